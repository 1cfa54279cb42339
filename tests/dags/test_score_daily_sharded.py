"""flight_cancellation__score with N shards through Airflow: mapped score tasks, the same predictions as one shard,
and a failed shard publishes nothing."""

import datetime as dt

import sqlalchemy as sa

from pipeline.config.settings import env_name
from pipeline.orchestration import local as airflow_local
from tests.helpers import flights_on, ledger, predictions_fingerprint

SHARDS_ENV = env_name("shards")

DAY = dt.date(2013, 7, 23)


def _score_instances(run_id: str) -> list[tuple[int, str]]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.execute(
            sa.select(TaskInstance.map_index, TaskInstance.state).where(
                TaskInstance.run_id == run_id,
                TaskInstance.dag_id == "flight_cancellation__score",
                TaskInstance.task_id == "score",
            )
        )
        return sorted((m, str(getattr(s, "value", s))) for m, s in rows)


def test_two_shards_publish_the_same_predictions_as_one(champion, source, monkeypatch):
    monkeypatch.setenv(SHARDS_ENV, "1")
    one = airflow_local.run_dag("flight_cancellation__score", DAY)
    assert one.succeeded, one.summary()
    single = predictions_fingerprint(source, DAY)
    assert _score_instances(one.run_id) == [(0, "success")]

    monkeypatch.setenv(SHARDS_ENV, "2")
    two = airflow_local.run_dag("flight_cancellation__score", DAY)
    assert two.succeeded, two.summary()
    sharded = predictions_fingerprint(source, DAY)
    assert _score_instances(two.run_id) == [(0, "success"), (1, "success")]
    assert sharded[0] == single[0] == flights_on(source, DAY)
    assert sharded[1] == single[1]  # same entities, scores, labels and model
    assert sharded[2] == two.run_id
    [row] = ledger(source, two.run_id)
    assert row["status"] == "succeeded" and row["rows_out"] == single[0]


def test_a_failed_shard_publishes_nothing_and_keeps_the_previous_predictions(champion, source, monkeypatch):
    import pipeline.scoring.score

    monkeypatch.setenv(SHARDS_ENV, "2")
    first = airflow_local.run_dag("flight_cancellation__score", DAY)
    assert first.succeeded, first.summary()
    before = predictions_fingerprint(source, DAY)

    real = pipeline.scoring.score.stream_scores

    def shard_one_breaks(reader, writer, select_sql, target, *args, **kwargs):
        if target[1].endswith("_s1"):
            raise RuntimeError("worker of shard 1 lost")
        return real(reader, writer, select_sql, target, *args, **kwargs)

    monkeypatch.setattr(pipeline.scoring.score, "stream_scores", shard_one_breaks)
    broken = airflow_local.run_dag("flight_cancellation__score", DAY)
    assert broken.state == "failed" and broken.failed_tasks == ["score"]
    assert _score_instances(broken.run_id) == [(0, "success"), (1, "failed")]
    assert predictions_fingerprint(source, DAY) == before  # not a single row of shard 0 got out
    [row] = ledger(source, broken.run_id)
    assert row["status"] == "failed" and "worker of shard 1 lost" in row["reason"]
