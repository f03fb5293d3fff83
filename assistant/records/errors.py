"""Errors of the records database, in the package's one hierarchy (`assistant.errors.PhysioError`)."""

from __future__ import annotations

from assistant.errors import PhysioError


class RecordsError(PhysioError):
    """The records database cannot be reached or used; the message says what to check.

    Callers decide how to degrade (a chat reply still goes out when its log cannot be written).
    """


class RecordNotFound(RecordsError, LookupError):
    """A turn or call-back id that is not in the database (never logged, or purged since)."""
