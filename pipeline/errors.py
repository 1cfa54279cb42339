"""The one exception base of batchscore, and whether retrying can help.

Every error the package raises on purpose derives from :class:`BatchscoreError`. Its ``retryable`` flag tells the
orchestrator what to do: bad data, a bad declaration or a bad artifact stay bad however often a task is retried,
so such errors fail the task at once; a transient condition (a lock that stayed busy) may clear, so it is retried.
Database errors are judged by their SQLSTATE (:func:`is_retryable`); anything else (a dropped connection
without a SQLSTATE, a full disk) keeps the orchestrator's default retries.
"""

from __future__ import annotations

from typing import ClassVar


class BatchscoreError(Exception):
    """Base of every error batchscore raises on purpose.

    ``retryable`` is a class default that one instance may override (``PublishError(..., retryable=True)``).
    """

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        if retryable is not None:
            self.__dict__["retryable"] = retryable  # an instance attribute shadows the class default


#: SQLSTATEs of database errors that retrying the same statement cannot mend: a syntax error, a missing privilege,
#: an undefined column or function, mismatched types in our SQL; data the statement cannot take. (Not every code of
#: their classes: an undefined or duplicate table can be a race with another session, which a retry may clear.)
PERMANENT_SQLSTATES = frozenset(
    {
        "42601",
        "42501",
        "42703",
        "42883",
        "42804",
        "42846",  # syntax, privilege, column, function, types, cast
        "22P02",
        "22003",
        "22012",
        "22007",
        "22008",  # invalid text, out of range, division by zero, dates
    }
)
#: ...and of those that may clear: a lost connection (08), a serialization failure or deadlock (40), a server out
#: of resources (53), a lock that was busy (55), an administrator's restart or cancel (57), a system error (58)
TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "55", "57", "58"})


def is_retryable(exc: BaseException) -> bool | None:
    """True or False when retrying is known to help or not: our errors by their flag, database errors by their
    SQLSTATE; None for anything else (the orchestrator's default applies)."""
    if isinstance(exc, BatchscoreError):
        return bool(getattr(exc, "retryable", False))
    # a driver error, or SQLAlchemy's wrapper of one (.orig); read by duck typing to import neither here
    sqlstate = getattr(getattr(exc, "orig", exc), "pgcode", None)
    if isinstance(sqlstate, str) and len(sqlstate) == 5:
        if sqlstate in PERMANENT_SQLSTATES:
            return False
        if sqlstate[:2] in TRANSIENT_SQLSTATE_CLASSES:
            return True
    return None


class ConfigError(BatchscoreError, ValueError):
    """A setting or a declaration is wrong: the message names the file or variable and the key."""


class DataRejected(BatchscoreError):
    """The data failed a check it must pass before it is scored, trained on or published."""


class ArtifactError(BatchscoreError):
    """A model artifact or registry entry cannot be used (missing, tampered, incompatible)."""


class PipelineStateError(BatchscoreError):
    """What an earlier step left is not what this step needs (nothing published, no scores to publish...)."""


class TransientError(BatchscoreError):
    """A condition that may clear by itself (a busy lock, a server restarting): retrying can help."""

    retryable: ClassVar[bool] = True
