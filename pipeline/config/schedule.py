"""``[schedule]``: when a use case's DAGs run, and which date a scheduled scoring run scores.

Read at DAG-parse time (no database): :mod:`dags` generates each use case's DAGs from these keys.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from pipeline.config.types import Table, Text

#: the date a scheduled scoring run scores, relative to the (local) date on which it fires
SCORE_DAY_OFFSETS = {"yesterday": -1, "today": 0, "tomorrow": 1}
#: a schedule that never fires: the DAG exists and runs when triggered
MANUAL = "none"


def _cron(value: str) -> str:
    if value == MANUAL:
        return value
    from croniter import croniter

    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError(
            f'must be a cron expression of 5 fields (minute hour day month weekday) or "none", got {value!r}'
        )
    return value


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"must be an IANA time zone such as 'UTC' or 'America/New_York', got {value!r}") from None
    return value


Cron = Annotated[Text, AfterValidator(_cron)]


class ScheduleSpec(Table):
    """``[schedule]``: the cron of the scoring and retraining DAGs, their time zone, and the date a scheduled
    scoring run scores."""

    score: Cron = Field("0 22 * * *", description='cron of the scoring DAG (`"none"`: only when triggered)')
    retrain: Cron = Field("0 3 * * 0", description='cron of the retraining DAG (`"none"`: only when triggered)')
    timezone: Annotated[Text, AfterValidator(_timezone)] = Field(
        "UTC", description="the time zone both crons are read in, and in which a run's date is taken"
    )
    scores: Literal["yesterday", "today", "tomorrow"] = Field(
        "tomorrow",
        description="the date a scheduled scoring run scores, relative to the date it fires on "
        '(`"tomorrow"`: tomorrow\'s schedule, the evening before; `"yesterday"`: what happened)',
    )

    def score_date(self, fired_at: dt.datetime) -> dt.date:
        """The date a scheduled scoring run that fired at ``fired_at`` scores (its local date plus the offset)."""
        local = fired_at.astimezone(zoneinfo.ZoneInfo(self.timezone)) if fired_at.tzinfo else fired_at
        return local.date() + dt.timedelta(days=SCORE_DAY_OFFSETS[self.scores])

    def cutoff_date(self, fired_at: dt.datetime) -> dt.date:
        """The cut-off of a scheduled retraining run: its local date."""
        return (fired_at.astimezone(zoneinfo.ZoneInfo(self.timezone)) if fired_at.tzinfo else fired_at).date()
