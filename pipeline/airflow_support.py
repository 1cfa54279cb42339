"""Small helpers the DAG files use: failure callbacks and exception mapping (Airflow imported lazily)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)


@contextmanager
def fail_fast_on_rejection() -> Iterator[None]:
    """Turn a validation rejection into a task failure that Airflow does not retry: retrying bad data is
    pointless, and the reason is already in the ledger."""
    from pipeline.validate import ValidationFailed

    try:
        yield
    except ValidationFailed as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from None


def record_task_failure(context: dict[str, Any]) -> None:
    """``on_failure_callback``: write a ``failed`` ledger row once a scoring task has failed for good.

    Rejections by the validation gate are recorded by the gate itself (status ``rejected``).
    """
    from pipeline import stages

    exc = context.get("exception")
    task_id = getattr(context.get("task_instance"), "task_id", "?")
    message = f"{task_id}: {type(exc).__name__}: {exc}" if exc else f"{task_id} failed"
    if type(exc).__name__ == "AirflowFailException":
        return  # only fail_fast_on_rejection raises it, after the gate wrote its `rejected` row
    try:
        xcom = context["task_instance"].xcom_pull(task_ids="extract") if task_id != "extract" else None
        if xcom:
            stages.record_failure(xcom["score_date"], xcom["run_id"], message, xcom["usecase_ref"])
        else:
            params = context.get("params") or {}
            run = context["dag_run"]
            day = stages.resolve_score_date(
                params.get("score_date"), context.get("data_interval_end"), run.run_after
            )
            stages.record_failure(day.isoformat(), context["run_id"], message)
    except Exception:  # a callback must never hide the original failure
        log.exception("could not record the failed run in the ledger")
