"""Which date a run scores (or, for retraining, trains as of): a param wins, else the run's own schedule."""

from __future__ import annotations

import datetime as dt

from pipeline.config.schedule import ScheduleSpec
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
    param: str | None,
    data_interval_end: dt.datetime | None,
    run_after: dt.datetime | None,
    schedule: ScheduleSpec | None = None,
) -> dt.date:
    """The date whose batch a run scores.

    A ``score_date`` param (manual trigger) wins. Otherwise the run scores ``schedule.score_date`` of the moment
    it fired (the end of its data interval, or ``run_after`` for a manual run without a logical date): with the
    default ``[schedule]`` (UTC, ``scores = "tomorrow"``), the run of the evening of day D scores D + 1.
    """
    if param:
        return parse_date(param)
    base = data_interval_end or run_after
    if base is None:
        raise ScoreDateError("no score_date param and no data interval or run_after to derive it from")
    return (schedule or ScheduleSpec()).score_date(base)


def resolve_cutoff_date(
    param: str | None,
    data_interval_end: dt.datetime | None,
    run_after: dt.datetime | None,
    schedule: ScheduleSpec | None = None,
) -> dt.date:
    """The cut-off of a retraining run: the ``cutoff_date`` param, else the run's own (local) date."""
    if param:
        return parse_date(param, what="cutoff_date")
    base = data_interval_end or run_after
    if base is None:
        raise ScoreDateError("no cutoff_date param and no data interval or run_after to derive it from")
    return (schedule or ScheduleSpec()).cutoff_date(base)


def scheduled_fire_time(schedule: ScheduleSpec, day: dt.date, *, scoring: bool) -> dt.datetime:
    """When the scheduled run for ``day`` fires, in UTC (what ``batchscore run`` gives ``dag.test`` as the
    logical date, so that a local run and the scheduler's run of the same date are the same pair).

    A scoring run fires on the local date ``day`` minus its ``scores`` offset (the evening before, for
    ``"tomorrow"``), a retraining run on its cut-off date; at the time of day of the cron's first firing from that
    date's midnight (a weekly cron gives its time on any date); at midnight for a schedule of ``"none"``.
    """
    import zoneinfo

    from croniter import croniter

    from pipeline.config.schedule import MANUAL, SCORE_DAY_OFFSETS

    zone = zoneinfo.ZoneInfo(schedule.timezone)
    local_day = day - dt.timedelta(days=SCORE_DAY_OFFSETS[schedule.scores]) if scoring else day
    midnight = dt.datetime.combine(local_day, dt.time(0), tzinfo=zone)
    cron = schedule.score if scoring else schedule.retrain
    at = dt.time(0)
    if cron != MANUAL:
        at = croniter(cron, midnight - dt.timedelta(microseconds=1)).get_next(dt.datetime).time()
    return dt.datetime.combine(local_day, at, tzinfo=zone).astimezone(dt.UTC)
