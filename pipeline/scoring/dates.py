"""Which date a run scores (or, for retraining, trains as of): a param wins, else the run's own schedule."""

from __future__ import annotations

import datetime as dt

from pipeline.config.usecase import UseCase
from pipeline.errors import ConfigError


class ScoreDateError(ConfigError):
    """No usable score date for a run."""


def parse_date(value: str | dt.date, *, what: str = "score_date") -> dt.date:
    """An ISO date (YYYY-MM-DD) or a clear error naming the parameter."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ScoreDateError(f"{what} must be a date in the form YYYY-MM-DD, got {value!r}") from None


def check_in_window(uc: UseCase, day: dt.date, *, what: str = "score_date") -> dt.date:
    """``day`` when the use case may score (or train as of) it; :class:`ScoreDateError` naming the window otherwise."""
    first, last = uc.scoring.window()
    if not first <= day <= last:
        source = (
            "its [scoring] score_dates" if uc.scoring.score_dates else "the default window; set [scoring] score_dates"
        )
        raise ScoreDateError(
            f"{what} {day.isoformat()} is outside the dates {uc.name} may score, {first.isoformat()} to "
            f"{last.isoformat()} ({source})"
        )
    return day


def resolve_score_date(
    param: str | None, data_interval_end: dt.datetime | None, run_after: dt.datetime | None
) -> dt.date:
    """The date whose batch a run scores.

    A ``score_date`` param (manual trigger) wins. Otherwise the nightly run that fires in the evening of day
    D (the end of its data interval, or ``run_after`` for a manual run without a logical date) scores the
    schedule of day D + 1: tomorrow's flights.
    """
    if param:
        return parse_date(param)
    base = data_interval_end or run_after
    if base is None:
        raise ScoreDateError("no score_date param and no data interval or run_after to derive it from")
    return base.date() + dt.timedelta(days=1)


def resolve_cutoff_date(
    param: str | None, data_interval_end: dt.datetime | None, run_after: dt.datetime | None
) -> dt.date:
    """The cut-off of a retraining run: the ``cutoff_date`` param, else the run's own date."""
    if param:
        return parse_date(param, what="cutoff_date")
    base = data_interval_end or run_after
    if base is None:
        raise ScoreDateError("no cutoff_date param and no data interval or run_after to derive it from")
    return base.date()
