"""The value types of use-case keys: strict numbers and strings, SQL names, dates, shares, bounded integers.

A check that relates one key to another raises :class:`DeclarationProblem` with the key path to name.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Strict

from pipeline.config.identifiers import IDENTIFIER


class DeclarationProblem(Exception):
    """A value that contradicts another key of the same file; ``key`` is the dotted path to name.

    Deliberately not a ValueError: pydantic would fold it into its own error and lose the key path.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(key, message)
        self.key, self.message = key, message


def _identifier(value: str) -> str:
    if not IDENTIFIER.fullmatch(value):
        raise ValueError(
            f"must be a plain lowercase SQL name (1-63 of a-z, 0-9, '_', not starting with a digit), got {value!r}"
        )
    return value


def _date(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        raise ValueError(f"must be a date YYYY-MM-DD, got {value!r}")
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ValueError(f"must be a date YYYY-MM-DD, got {value!r}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"must be a date YYYY-MM-DD, got {value!r}") from None


def at_least(low: int) -> AfterValidator:
    def check(value: int) -> int:
        if value < low:
            raise ValueError(f"must be an integer of at least {low}, got {value!r}")
        return value

    return AfterValidator(check)


def within(low: float, high: float, *, low_open: bool = False) -> AfterValidator:
    def check(value: float) -> float:
        if not (low < value <= high if low_open else low <= value <= high):
            bracket = "(" if low_open else "["
            raise ValueError(f"must lie in {bracket}{low:g}, {high:g}], got {value}")
        return value

    return AfterValidator(check)


def _share(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"must be a share between 0 and 1, got {value!r}")
    return value


Int = Annotated[int, Strict()]
Number = Annotated[float, Strict()]
Text = Annotated[str, Strict()]
Name = Annotated[str, Strict(), AfterValidator(_identifier)]
Date = Annotated[dt.date, BeforeValidator(_date)]
Share = Annotated[float, Strict(), AfterValidator(_share)]
Severity = Literal["critical", "warning", "info"]


class Table(BaseModel):
    """A TOML table: unknown keys refused, values frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())
