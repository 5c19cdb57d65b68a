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

#: Stands for "not given" where a field's default is made by a factory.
_NOT_GIVEN: Any = object()


def builder(cls: type[M]) -> Callable[..., M]:
    """A constructor for ``cls`` taking its fields as keywords, without validation.

    It sets what ``BaseModel.model_construct`` sets, so the instance compares, hashes, dumps
    and copies like a validated one, with one difference: every field counts as set
    (``model_fields_set``), since the reader decided each one. ``cls`` must be frozen: its
    instances share that set.

    The constructor's source is written here from the model's fields, as ``dataclasses``
    writes ``__init__``: Python then binds the keywords itself, refusing unknown and missing
    ones, and the field values go straight into one dict. A generic ``build(**values)``
    that checked, merged defaults and looked for factories cost about twice as much (0.9 us
    more a model, four models a post on an X page)."""
    if not cls.model_config.get("frozen"):
        raise TypeError(f"{cls.__name__}: builders share one fields set, so only frozen models")
    namespace: dict[str, Any] = {
        "_cls": cls,
        "_new": cls.__new__,
        # One set for every instance: the model is frozen, so nothing adds to it, and
        # pydantic's copies copy it before they add. A set per instance was 1.9% of a
        # parsing worker's instructions on X pages (bench/ingest_instructions.py).
        "_fields_set": set(cls.model_fields),
        "_NOT_GIVEN": _NOT_GIVEN,
        "_set_dict": _set_dict,
        "_set_fields_set": _set_fields_set,
        "_set_extra": _set_extra,
        "_set_private": _set_private,
    }
    parameters: list[str] = []
    factories: list[str] = []
    for name, info in cls.model_fields.items():
        if not name.isidentifier() or name.startswith("_"):
            raise TypeError(f"{cls.__name__}.{name}: not a plain field name")
        if info.is_required():
            parameters.append(name)
        elif info.default_factory is not None:
            namespace[f"_factory_{name}"] = info.default_factory
            parameters.append(f"{name}=_NOT_GIVEN")
            factories.append(f"    if {name} is _NOT_GIVEN:\n        {name} = _factory_{name}()\n")
        else:
            namespace[f"_default_{name}"] = info.default
            parameters.append(f"{name}=_default_{name}")
    values = ", ".join(f"{name!r}: {name}" for name in cls.model_fields)
    # What a TypeError for a wrong keyword names (generic models have names like "M[int]").
    function = f"build_{cls.__name__}" if cls.__name__.isidentifier() else "build"
    source = (
        f"def {function}(*, {', '.join(parameters)}):\n"
        + "".join(factories)
        + "    instance = _new(_cls)\n"
        + f"    _set_dict(instance, {{{values}}})\n"
        + "    _set_fields_set(instance, _fields_set)\n"
        + "    _set_extra(instance, None)\n"
        + "    _set_private(instance, None)\n"
        + "    return instance\n"
    )
    exec(compile(source, f"<builder of {cls.__qualname__}>", "exec"), namespace)
    build: Callable[..., M] = namespace[function]
    build.__doc__ = (
        f"{cls.__name__} from checked values (fields: {', '.join(sorted(cls.model_fields))})."
    )
    return build
