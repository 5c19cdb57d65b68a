"""The reader interface and its registry.

A *reader* turns one unit of input (an API page, a response document, a CSV row) into a
:class:`~tidewatch.model.Bundle`. Readers never see files: :mod:`tidewatch.ingest.framing`
splits input into units and says where each came from, so every reader gets bounded memory,
UTF-8 checks and line numbers for free.

To add a format: subclass :class:`Reader`, give it a unique ``name``, implement ``sniff`` and
``parse``, decorate it with :func:`register`, import it in ``tidewatch/ingest/__init__.py`` and
run ``tests/ingest/reader_test_kit.py`` against it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import ValidationError

from tidewatch.errors import RecordError
from tidewatch.model import ApiError, Bundle, SourceRecord, Stamp


class Framing(StrEnum):
    JSONL = "jsonl"  # one JSON value per line
    JSON = "json"  # one JSON document per file
    CSV = "csv"  # a header row, then one unit per row


@dataclass(frozen=True)
class Unit:
    """One piece of input, with the raw bytes it was parsed from and where it was found."""

    raw: bytes
    value: Any
    where: str
    framing: Framing


@dataclass(frozen=True)
class ReadContext:
    """What the caller knows that the payload may not say."""

    collector: str = ""
    origin: str = ""
    options: dict[str, str] = field(default_factory=dict)


class Reader(ABC):
    """One source format. Stateless: the same instance may read units from many files."""

    name: ClassVar[str]
    description: ClassVar[str]
    framings: ClassVar[frozenset[Framing]]
    #: Sniffing tries readers in ascending priority, so specific formats win over generic ones.
    priority: ClassVar[int] = 50

    @classmethod
    @abstractmethod
    def sniff(cls, value: Any, framing: Framing) -> bool:
        """Does this first unit (parsed JSON, or a CSV header as a list of names) look like ours?"""

    @abstractmethod
    def parse(self, unit: Unit, context: ReadContext) -> Bundle:
        """Turn one unit into a bundle, raising RecordError naming the field that was wrong."""

    def read(self, unit: Unit, context: ReadContext | None = None) -> Bundle:
        """``parse`` with a guarantee: it returns a bundle or raises :class:`RecordError`.

        Readers validate the fields they use and say which one failed; this net catches what
        a hostile payload still finds (a list where an object was documented, say) so one bad
        record can never stop an ingest.
        """
        context = context or ReadContext()
        try:
            return self.parse(unit, context)
        except RecordError as error:
            if error.where:
                raise
            raise error.located(unit.where) from error
        except ValidationError as error:
            first = error.errors()[0]
            location = ".".join(str(p) for p in first.get("loc", ()))
            raise RecordError(
                f"{self.name}: invalid value for {location or 'record'}: {first.get('msg', error)}",
                where=unit.where,
            ) from error
        except (
            KeyError,
            IndexError,
            TypeError,
            ValueError,
            AttributeError,
            OverflowError,
        ) as error:
            raise RecordError(
                f"{self.name}: record does not have the expected structure ({type(error).__name__}: {error})",
                where=unit.where,
            ) from error

    def source(
        self,
        unit: Unit,
        context: ReadContext,
        *,
        retrieved_at: Stamp | None = None,
        errors: Iterable[ApiError] = (),
    ) -> SourceRecord:
        return SourceRecord(
            raw=unit.raw,
            format=self.name,
            collector=context.collector,
            retrieved_at=retrieved_at,
            origin=unit.where,
            errors=tuple(errors),
        )


READERS: dict[str, type[Reader]] = {}


def register(cls: type[Reader]) -> type[Reader]:
    """Add a reader to the registry; two readers with one name is a programming error."""
    if not getattr(cls, "name", ""):
        raise TypeError(f"{cls.__name__} has no name")
    if cls.name in READERS and READERS[cls.name] is not cls:
        raise RuntimeError(f"two readers are named {cls.name!r}: {READERS[cls.name]} and {cls}")
    READERS[cls.name] = cls
    return cls


def readers_by_priority() -> list[type[Reader]]:
    return sorted(READERS.values(), key=lambda r: (r.priority, r.name))
