"""A use case's ``[schedule]`` as an Airflow ``schedule`` (imported by the DAG files through ``pipeline.tasks``)."""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable

from pipeline.config.schedule import MANUAL


def timetable(cron: str, timezone: str) -> CronTriggerTimetable | None:
    """The cron in its time zone (a run fires at the cron's time, no data interval), or None for ``"none"``."""
    return None if cron == MANUAL else CronTriggerTimetable(cron, timezone=timezone)
