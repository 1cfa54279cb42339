"""The one exception base of batchscore, and whether retrying can help.

Every error the package raises on purpose derives from :class:`BatchscoreError`. Its ``retryable`` flag tells the
orchestrator what to do: bad data, a bad declaration or a bad artifact stay bad however often a task is retried,
so such errors fail the task at once; a transient condition (a lock that stayed busy) may clear, so it is retried.
Exceptions that do not derive from this base (a dropped connection, a full disk) keep the orchestrator's default
retries.
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


def is_retryable(exc: BaseException) -> bool | None:
    """True or False for our errors; None for anything else (the orchestrator's default applies)."""
    if isinstance(exc, BatchscoreError):
        return bool(getattr(exc, "retryable", False))
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
