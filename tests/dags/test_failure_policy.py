"""Every task of every DAG fails at once on an error retrying cannot mend, retries a transient one, and alerts."""

import datetime as dt
from datetime import timedelta

import pytest
import sqlalchemy as sa

from pipeline.orchestration import local as airflow_local
from tests.helpers import ledger

DAY = dt.date(2013, 9, 17)
DAGS = ("flight_cancellation__score", "flight_cancellation__retrain", "flight_cancellation__rollback")


@pytest.mark.parametrize("dag_id", DAGS)
def test_every_task_carries_the_retry_policy_an_execution_timeout_and_a_failure_alert(dag_id):
    from pipeline.orchestration.callbacks import AlertNotifier, BatchscoreRetryPolicy

    dag = airflow_local.load_dag(dag_id, retries=None)
    for task in dag.tasks:
        assert isinstance(task.retry_policy, BatchscoreRetryPolicy), task.task_id
        assert task.execution_timeout is not None and task.execution_timeout.total_seconds() > 0, task.task_id
        callbacks = (
            task.on_failure_callback if isinstance(task.on_failure_callback, list) else [task.on_failure_callback]
        )
        assert any(isinstance(c, AlertNotifier) and c.on == "failure" for c in callbacks), task.task_id


def test_the_policy_fails_our_permanent_errors_and_leaves_the_rest_to_the_retries():
    from airflow.sdk.definitions.retry_policy import RetryAction

    from pipeline.config.loading import UseCaseError
    from pipeline.model.artifacts import ModelError
    from pipeline.orchestration.callbacks import BatchscoreRetryPolicy
    from pipeline.scoring.publish import PublishLockTimeout
    from pipeline.validation.checks import ValidationFailed

    class SyntaxErrorInOurSql(Exception):
        pgcode = "42601"

    policy = BatchscoreRetryPolicy()
    syntax = sa.exc.ProgrammingError("selec 1", None, SyntaxErrorInOurSql("syntax error at or near selec"))
    for permanent in (ValidationFailed("bad data"), UseCaseError("bad file"), ModelError("tampered"), syntax):
        assert policy.evaluate(permanent, 1, 3).action is RetryAction.FAIL
    transient = sa.exc.OperationalError("select 1", None, Exception("server closed the connection"))
    assert policy.evaluate(PublishLockTimeout("readers kept the table"), 1, 3).action is RetryAction.RETRY
    for unknown in (transient, OSError("disk")):  # no SQLSTATE, not ours: the task's own retries decide
        assert policy.evaluate(unknown, 1, 3).action is RetryAction.DEFAULT


def _run_with_retries(monkeypatch, failure):
    """flight_cancellation__score for DAY with one retry a second later, its first score attempt raising ``failure``."""
    import pipeline.scoring.score

    real, calls = pipeline.scoring.score.stream_scores, []

    def first_attempt_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise failure
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline.scoring.score, "stream_scores", first_attempt_fails)
    dag = airflow_local.load_dag("flight_cancellation__score", retries=1)
    saved = {t.task_id: (t.retry_delay, t.retry_exponential_backoff) for t in dag.tasks}
    for t in dag.tasks:
        t.retry_delay, t.retry_exponential_backoff = timedelta(seconds=1), 0
    try:
        run = dag.test(
            logical_date=dt.datetime.combine(DAY, dt.time(0), tzinfo=dt.UTC) - timedelta(hours=2),
            run_conf={**airflow_local.param_defaults("flight_cancellation__score"), "score_date": DAY.isoformat()},
        )
    finally:
        for t in dag.tasks:
            t.retry_delay, t.retry_exponential_backoff = saved[t.task_id]
        airflow_local.load_dag("flight_cancellation__score")  # back to no retries for the other tests
    return run, {
        ti.task_id: (str(getattr(ti.state, "value", ti.state)), ti.try_number) for ti in run.get_task_instances()
    }


def test_a_permanent_error_fails_the_task_on_its_first_try_despite_retries(champion, source, monkeypatch):
    from pipeline.model.predict import ScoringError

    run, states = _run_with_retries(monkeypatch, ScoringError("the model returned probabilities outside [0, 1]"))
    assert states["score"] == ("failed", 1), states
    assert [r["status"] for r in ledger(source, run.run_id)] == ["failed"]
    with source.connect() as conn:
        alerted = conn.execute(
            sa.text("select count(*) from batchscore.alerts where kind = 'run_failed' and alert_key like :k"),
            {"k": f"flight_cancellation__score/{run.run_id}/score"},
        ).scalar()
    assert alerted == 1


def test_a_transient_error_is_retried_and_the_run_succeeds(champion, source, monkeypatch):
    transient = sa.exc.OperationalError("copy", None, Exception("server closed the connection unexpectedly"))
    run, states = _run_with_retries(monkeypatch, transient)
    assert states["score"] == ("success", 2), states
    assert str(getattr(run.state, "value", run.state)) == "success"
