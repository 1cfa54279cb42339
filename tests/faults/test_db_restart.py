"""The database restarted in the middle of a run, on a PostgreSQL cluster this test owns: the interrupted
task fails, Airflow retries it, the run succeeds, and the date holds exactly one row per flight."""

import datetime as dt
import os
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from pipeline.orchestration import local as airflow_local
from tests.faults.conftest import backends_waiting_on, staging_leftovers, wait_for
from tests.helpers import flights_on, ledger, predictions_fingerprint, stop_cluster

DAY = dt.date(2013, 9, 6)


@pytest.fixture(scope="module")
def own_server(tmp_path_factory, database_url):
    """A throwaway embedded cluster with our schema, the source data and a champion; the session database
    is put back afterwards."""
    from pipeline.config.loading import load_usecase, with_overrides
    from pipeline.db.engine import get_engine, start_embedded
    from pipeline.db.migrations import migrate
    from pipeline.demo.nycflights13 import load_source
    from pipeline.model.train import train_and_register
    from tests.conftest import TRAIN_WINDOW

    pgdata = tmp_path_factory.mktemp("restartable") / "pgdata"
    url = start_embedded(pgdata, cleanup_mode="delete")
    os.environ["BATCHSCORE_DATABASE_URL"] = url.render_as_string(hide_password=False)
    engine = None
    try:
        engine = get_engine()
        migrate(engine)
        load_source(engine)
        window = {f"training.{k}": v for k, v in TRAIN_WINDOW.items()}
        train_and_register(engine, with_overrides(load_usecase("flight_cancellation"), window), created_by="tests")
        yield engine, pgdata
    finally:
        os.environ["BATCHSCORE_DATABASE_URL"] = database_url.render_as_string(hide_password=False)
        if engine is not None:
            engine.dispose()
        stop_cluster(pgdata)


def restart(pgdata) -> None:
    """``pg_ctl restart -m fast``: every connection is terminated, the server comes back on the same socket."""
    from pipeline.db.engine import import_pgserver

    import_pgserver(pgdata)
    from pgserver._commands import pg_ctl

    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=pgdata, user="pgserver" if os.geteuid() == 0 else None, timeout=60)


def test_a_database_restart_mid_publish_is_retried_and_publishes_exactly_once(own_server):
    engine, pgdata = own_server
    reference_run = airflow_local.run_dag("flight_cancellation__score", DAY)
    assert reference_run.succeeded, reference_run.summary()
    reference = predictions_fingerprint(engine, DAY)
    expected = flights_on(engine, DAY)
    assert reference[0] == expected

    dag = airflow_local.load_dag("flight_cancellation__score", retries=1)
    saved = {t.task_id: (t.retry_delay, t.retry_exponential_backoff) for t in dag.tasks}
    for t in dag.tasks:  # retry at once instead of after the declared 2 minutes
        t.retry_delay, t.retry_exponential_backoff = timedelta(seconds=1), 0
    holder = engine.connect()
    holder.execute(sa.text("lock table batchscore.scoring_runs in share mode"))
    seen: dict = {}

    def restart_when_publish_is_mid_transaction() -> None:
        try:
            seen["waiting"] = wait_for(
                "publish to block on the ledger insert",
                lambda: backends_waiting_on(engine, "relation", "%insert into batchscore.scoring_runs%"),
                timeout=180,
            )
            seen["mid_publish"] = predictions_fingerprint(engine, DAY)
            restart(pgdata)
            seen["restarted"] = True
        except BaseException as exc:  # reported by the test thread
            seen["error"] = exc

    restarter = threading.Thread(target=restart_when_publish_is_mid_transaction, daemon=True)
    restarter.start()
    try:
        run = dag.test(
            logical_date=dt.datetime.combine(DAY, dt.time(0), tzinfo=dt.UTC) - timedelta(hours=2),
            run_conf={**airflow_local.param_defaults("flight_cancellation__score"), "score_date": DAY.isoformat()},
        )
    finally:
        restarter.join(60)
        holder.invalidate()
        for t in dag.tasks:
            t.retry_delay, t.retry_exponential_backoff = saved[t.task_id]
    assert "error" not in seen, seen.get("error")
    assert seen.get("restarted") and seen["mid_publish"] == reference
    states = {ti.task_id: (str(getattr(ti.state, "value", ti.state)), ti.try_number) for ti in run.get_task_instances()}
    assert str(getattr(run.state, "value", run.state)) == "success", states
    assert states["publish"] == ("success", 2)  # the first try died with the server, the retry published
    after = predictions_fingerprint(engine, DAY)
    assert after == (expected, reference[1], run.run_id)  # exact count, same checksum, no duplicate, none missing
    [row] = ledger(engine, run.run_id)
    assert (row["status"], row["rows_in"], row["rows_out"]) == ("succeeded", expected, expected)
    assert staging_leftovers(engine, DAY) == 0
    print(f"fault report: reference={reference} after={after} tasks={states}")
