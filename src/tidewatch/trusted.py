"""Model instances built from values a reader has already checked, without validating again.

Validation is what makes the models trustworthy at the edge (STYLE.md 10), and readers do it
field by field with :mod:`tidewatch.ingest.fields`, which also names the field that was
wrong. Running pydantic's validation a second time on the values those accessors return
doubled the cost of building a post, the largest part of reading a large X archive.

Only values of the declared types may be passed (the accessors' return types), and every
model validator's rule must already hold: ids non-empty after stripping (``fields.as_id``
guarantees it), times aware UTC (``timeparse`` guarantees it). ``tests/ingest`` checks that
bundles built this way equal the same bundles validated field by field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

# The slots every pydantic model has, set through their descriptors: half the cost of
# object.__setattr__ with a name, which looks each up again (four per model built, some
# 0.3 us; models are built four times a post for an X page).
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def builder(cls: type[M]) -> Callable[..., M]:
    """A constructor for ``cls`` taking its fields as keywords, without validation.

    It sets what ``BaseModel.model_construct`` sets (faster: defaults are resolved once),
    so the instance compares, hashes, dumps and copies like a validated one."""
    names = frozenset(cls.model_fields)
    required = frozenset(name for name, info in cls.model_fields.items() if info.is_required())
    static: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    for name, info in cls.model_fields.items():
        if info.default_factory is not None:
            factories[name] = info.default_factory  # type: ignore[assignment]
        elif not info.is_required():
            static[name] = info.default
    new = cls.__new__

    def build(**values: Any) -> M:
        if not (values.keys() <= names and required <= values.keys()):
            raise TypeError(
                f"{cls.__name__} takes {sorted(names)} (required {sorted(required)}), "
                f"got {sorted(values)}"
            )
        instance = new(cls)
        fields = static | values
        for name, factory in factories.items():
            if name not in values:
                fields[name] = factory()
        _set_dict(instance, fields)
        _set_fields_set(instance, set(values))
        _set_extra(instance, None)
        _set_private(instance, None)
        return instance

    build.__doc__ = f"{cls.__name__} from checked values (fields: {', '.join(sorted(names))})."
    return build
