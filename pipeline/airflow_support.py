"""Small helpers the DAG files use: failure callbacks, alert notifiers and exception mapping.

Only DAG files import this module (it needs Airflow); everything else in ``pipeline`` runs without Airflow.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow.sdk import BaseHook, BaseNotifier

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


class AlertNotifier(BaseNotifier):
    """Airflow notifier for batchscore's alerts: always to the task log, and to the webhook or e-mail of the
    ``batchscore_alerts`` connection when it exists (its secrets stay in the connection).

    ``on="failure"``: as an ``on_failure_callback``, one alert per task that failed for good.
    ``on="monitor"``: as the monitor task's ``on_success_callback``, the new breaches it recorded (each breach
    is recorded once in ``batchscore.alerts``, so it is delivered once).
    """

    template_fields = ()

    def __init__(self, on: str, conn_id: str | None = None) -> None:
        super().__init__()
        if on not in ("failure", "monitor"):
            raise ValueError(f"AlertNotifier(on=...) must be 'failure' or 'monitor', got {on!r}")
        from pipeline.alerts import ALERTS_CONN_ID

        self.on, self.conn_id = on, conn_id or ALERTS_CONN_ID

    def channels(self) -> list[Any]:
        """The configured channel, or none when the connection does not exist."""
        from pipeline.alerts import channel_from_connection

        try:
            conn = BaseHook.get_connection(self.conn_id)
        except Exception:  # no such connection: the log channel alone
            return []
        return [channel_from_connection(conn)]

    def notify(self, context: Any) -> None:
        from pipeline.alerts import Alert, deliver

        ti = context["task_instance"]
        if self.on == "monitor":
            result = ti.xcom_pull(task_ids=ti.task_id) or {}
            alerts = [Alert.from_dict(a) for a in result.get("new_alerts", [])]
            if result.get("alerts_total", 0) > len(alerts):
                log.warning("%d more alerts recorded in batchscore.alerts", result["alerts_total"] - len(alerts))
        else:
            alerts = self._failure_alerts(context)
        deliver(alerts, self.channels())

    def _failure_alerts(self, context: Any) -> list[Any]:
        from pipeline.alerts import record_new_alerts, run_failure_alert
        from pipeline.db import get_engine, redact_text
        from pipeline.settings import load_settings

        ti, exc = context["task_instance"], context.get("exception")
        batch = ti.xcom_pull(task_ids="extract") if ti.task_id != "extract" else None
        use_case = (batch or {}).get("use_case") or load_settings().usecase
        error = redact_text(f"{type(exc).__name__}: {exc}") if exc else "failed"
        alert = run_failure_alert(use_case, (batch or {}).get("score_date"), ti.dag_id, context["run_id"],
                                  ti.task_id, error[:500])
        try:
            return record_new_alerts(get_engine(), [alert])
        except Exception:  # the database may be why the task failed: still tell someone
            log.exception("could not record the alert; delivering it anyway")
            return [alert]
