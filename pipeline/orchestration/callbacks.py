"""What the DAGs attach to their tasks: the retry policy, the failure callbacks and the alert notifier.

Only Airflow imports this module (through :func:`pipeline.tasks.dag_defaults`); the rest of ``pipeline`` runs
without Airflow.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseHook, BaseNotifier
from airflow.sdk.definitions.retry_policy import RetryDecision, RetryPolicy

from pipeline.errors import ConfigError, is_retryable
from pipeline.orchestration.naming import FIRST_TASK, parse_dag_id

log = logging.getLogger(__name__)


class BatchscoreRetryPolicy(RetryPolicy):
    """Fail at once on errors that retrying cannot mend (bad data, a bad declaration, a bad artifact, a bad
    statement: :func:`pipeline.errors.is_retryable` says False); retry the rest as the task says."""

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int, context: Any = None) -> RetryDecision:
        verdict = is_retryable(exception)
        if verdict is False:
            return RetryDecision.fail(reason=f"{type(exception).__name__} is not retryable: retrying cannot help")
        if verdict is True:
            return RetryDecision.retry(reason=f"{type(exception).__name__} may clear by itself: retrying")
        return RetryDecision.default()

    def serialize(self) -> dict[str, Any]:
        return {"__type": "BatchscoreRetryPolicy"}


def _batch_of(context: Any) -> dict[str, Any] | None:
    """What the run's first task returned (use case, date), when the failed task is not that task."""
    ti = context["task_instance"]
    parsed = parse_dag_id(ti.dag_id)
    first = FIRST_TASK.get(parsed[1]) if parsed else None
    if first is None or ti.task_id == first:
        return None
    try:
        return ti.xcom_pull(task_ids=first) or None
    except Exception:  # the callback must never hide the original failure
        return None


class RecordTaskFailure:
    """``on_failure_callback`` of a use case's scoring DAG: :func:`record_task_failure` for that use case."""

    def __init__(self, usecase: str) -> None:
        self.usecase = usecase

    def __call__(self, context: dict[str, Any]) -> None:
        record_task_failure(context, self.usecase)

    def __repr__(self) -> str:
        return f"RecordTaskFailure({self.usecase!r})"


def record_task_failure(context: dict[str, Any], usecase: str) -> None:
    """Once a task of ``usecase``'s scoring DAG has failed for good: a ``failed`` row in its ledger, and the
    run's staging tables dropped (nothing will read them again).

    Rejections by the validation gate are recorded (status ``rejected``) and cleaned up by the gate itself.
    """
    from pipeline.config.loading import load_usecase
    from pipeline.config.settings import load_settings
    from pipeline.db.engine import get_engine
    from pipeline.db.ledger import FAILED, record_unpublished_run
    from pipeline.db.staging import drop_staging, staging_tables
    from pipeline.scoring.dates import parse_date, resolve_score_date
    from pipeline.validation.checks import ValidationFailed

    exc = context.get("exception")
    if isinstance(exc, ValidationFailed):
        return
    task_id = getattr(context.get("task_instance"), "task_id", "?")
    message = f"{task_id}: {type(exc).__name__}: {exc}" if exc else f"{task_id} failed"
    try:
        batch = _batch_of(context)
        settings = load_settings(refuse_unknown=False)  # a misspelt variable must not stop the ledger row
        if batch:
            uc = load_usecase(batch["usecase_ref"])
            day, run_id = parse_date(batch["score_date"]), batch["run_id"]
        else:
            uc = load_usecase(usecase)
            params = context.get("params") or {}
            day = resolve_score_date(
                params.get("score_date"), context.get("data_interval_end"), context["dag_run"].run_after, uc.schedule
            )
            run_id = context["run_id"]
        engine = get_engine(settings)
        record_unpublished_run(engine, uc, day, run_id, status=FAILED, reason=message)
        drop_staging(engine, staging_tables(uc.name, day, run_id))
    except Exception:  # a callback must never hide the original failure
        log.exception("could not record the failed run in the ledger")


class AlertNotifier(BaseNotifier):
    """Airflow notifier for batchscore's alerts: always to the task log, and to the webhook or e-mail of the
    ``batchscore_alerts`` connection when it exists (its secrets stay in the connection).

    ``on="failure"``: as an ``on_failure_callback``, one alert per task that failed for good (every DAG).
    ``on="monitor"``: as the monitor task's ``on_success_callback``, the new breaches it recorded (each breach
    is recorded once in ``batchscore.alerts``, so it is delivered once). ``usecase``: the DAG's use case, named
    by a failure alert when the run failed before its first task said which.
    """

    template_fields = ()

    def __init__(self, on: str, usecase: str | None = None, conn_id: str | None = None) -> None:
        super().__init__()
        if on not in ("failure", "monitor"):
            raise ConfigError(f"AlertNotifier(on=...) must be 'failure' or 'monitor', got {on!r}")
        from pipeline.monitoring.channels import ALERTS_CONN_ID

        self.on, self.usecase, self.conn_id = on, usecase, conn_id or ALERTS_CONN_ID

    def channels(self) -> list[Any]:
        """The configured channel, or none when the connection does not exist."""
        from pipeline.monitoring.channels import channel_from_connection

        try:
            conn = BaseHook.get_connection(self.conn_id)
        except Exception:  # no such connection: the log channel alone
            return []
        return [channel_from_connection(conn)]

    def notify(self, context: Any) -> None:
        from pipeline.monitoring.alerts import Alert
        from pipeline.monitoring.channels import deliver

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
        from pipeline.config.settings import DEFAULT_USECASE, load_settings
        from pipeline.db.engine import get_engine, redact_text
        from pipeline.monitoring.alerts import record_new_alerts, run_failure_alert

        ti, exc = context["task_instance"], context.get("exception")
        batch = _batch_of(context) or {}
        try:  # a misspelt variable may be why the task failed: the alert must still go out
            settings = load_settings(refuse_unknown=False)
        except Exception:
            settings = None
        parsed = parse_dag_id(ti.dag_id)
        use_case = (
            batch.get("use_case")
            or self.usecase
            or (parsed[0] if parsed else None)
            or (settings.default_usecase if settings else DEFAULT_USECASE)
        )
        error = redact_text(f"{type(exc).__name__}: {exc}") if exc else "failed"
        day = batch.get("score_date") or batch.get("cutoff")
        alert = run_failure_alert(use_case, day, ti.dag_id, context["run_id"], ti.task_id, error[:500])
        try:
            return record_new_alerts(get_engine(settings), [alert])
        except Exception:  # the database may be why the task failed: still tell someone
            log.exception("could not record the alert; delivering it anyway")
            return [alert]
