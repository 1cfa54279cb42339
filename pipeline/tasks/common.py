"""What every task needs: the engine and use case of a step, the date a run scores, and the Airflow wiring the
DAG files ask for (imported lazily: nothing here imports Airflow at import time)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.engine import Engine

from pipeline.config.loading import load_usecase
from pipeline.config.usecase import UseCase
from pipeline.db.engine import get_engine
from pipeline.scoring.dates import check_in_window, parse_date, resolve_cutoff_date, resolve_score_date

#: what a date param of any DAG may look like: YYYY-MM-DD in the years 1970-2199, checked by Airflow before a run
#: exists (the use case's own window, ``[scoring] score_dates``, is checked by the run's first task)
DATE_PATTERN = r"^(19[7-9][0-9]|2[01][0-9]{2})-[0-9]{2}-[0-9]{2}$"


def score_date_for(
    param: str | None,
    data_interval_end: dt.datetime | None,
    run_after: dt.datetime | None,
    usecase: str | None = None,
) -> str:
    """The date a scoring run of ``usecase`` scores, as YYYY-MM-DD: the param, else its ``[schedule] scores``
    relative to when the run fired (:func:`pipeline.scoring.dates.resolve_score_date`)."""
    schedule = None if param else load_usecase(usecase).schedule
    return resolve_score_date(param, data_interval_end, run_after, schedule).isoformat()


def check_score_date(uc: UseCase, day: str, what: str = "score_date") -> dt.date:
    """The date, parsed, when the use case may score (or train as of) it; one clear refusal otherwise."""
    return check_in_window(uc, parse_date(day, what=what), what=what)


def cutoff_for(
    param: str | None,
    data_interval_end: dt.datetime | None,
    run_after: dt.datetime | None,
    usecase: str | None = None,
) -> str:
    """The cut-off of a retraining run of ``usecase``, as YYYY-MM-DD: the param, else the run's local date in
    the use case's time zone (:func:`pipeline.scoring.dates.resolve_cutoff_date`)."""
    schedule = None if param else load_usecase(usecase).schedule
    return resolve_cutoff_date(param, data_interval_end, run_after, schedule).isoformat()


def context(usecase: str | None, day: str | None = None) -> tuple[Engine, UseCase, dt.date | None]:
    return get_engine(), load_usecase(usecase), parse_date(day) if day is not None else None


def dated(usecase: str | None, day: str) -> tuple[Engine, UseCase, dt.date]:
    engine, uc, parsed = context(usecase, day)
    assert parsed is not None
    return engine, uc, parsed


# --- Airflow wiring (imported lazily: the DAG files call these at parse time) ------------------------------------


def dag_defaults(
    *,
    retries: int,
    retry_delay: dt.timedelta,
    execution_timeout: dt.timedelta,
    usecase: str,
    max_retry_delay: dt.timedelta | None = None,
    record_ledger: bool = False,
) -> dict[str, Any]:
    """``default_args`` for a DAG of ``usecase``: the retries, an execution timeout per task (a task stuck behind
    something never holds the DAG's one active run for ever), a retry policy that fails at once on errors retrying
    cannot mend, and failure callbacks for that use case (an alert for every task that failed for good; with
    ``record_ledger``, a ``failed`` row in its scoring ledger too)."""
    from pipeline.orchestration.callbacks import AlertNotifier, BatchscoreRetryPolicy, RecordTaskFailure

    callbacks: list[Any] = [RecordTaskFailure(usecase)] if record_ledger else []
    defaults: dict[str, Any] = {
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": 2.0,
        "execution_timeout": execution_timeout,
        "retry_policy": BatchscoreRetryPolicy(),
        "on_failure_callback": [*callbacks, AlertNotifier(on="failure", usecase=usecase)],
    }
    if max_retry_delay is not None:
        defaults["max_retry_delay"] = max_retry_delay
    return defaults


def monitor_notifier(usecase: str) -> Any:
    """The monitor task's ``on_success_callback``: deliver the breaches it recorded for ``usecase``."""
    from pipeline.orchestration.callbacks import AlertNotifier

    return AlertNotifier(on="monitor", usecase=usecase)
