"""The project's own error types. Anything a user's input can cause is one of these."""

from __future__ import annotations


class TidewatchError(Exception):
    """Base for every error Tidewatch raises on purpose."""


class RecordError(TidewatchError):
    """One record of an input could not be read. ``where`` names the file and line or record."""

    def __init__(self, message: str, *, where: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def located(self, where: str) -> RecordError:
        """The same error, placed at ``where`` (a reader knows the record; the framing knows the line)."""
        return RecordError(self.message, where=where)

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class FormatError(TidewatchError):
    """A whole input is not in a format Tidewatch can read (or not the one asked for)."""


class ConfigError(TidewatchError):
    """A setting (database URL, path, threshold...) is invalid."""


class NotFound(TidewatchError):
    """The thing asked for does not exist (or is not visible to whoever asked)."""


class PermissionDenied(TidewatchError):
    """The actor's role does not allow this action (four eyes, a liaison outside its platform...)."""


class Conflict(TidewatchError):
    """The action clashes with the current state: an item claimed by someone else, a referral
    that is not in a state that allows the step asked for."""
