"""flight_cancellation__score on a real Airflow deployment (not dag.test): api-server, scheduler and dag-processor as
separate processes on PostgreSQL metadata, with LocalExecutor and with CeleryExecutor + one worker on Redis.
A login is required, bad trigger params are refused by the API, and the database password (a real one, on a
role this test creates) appears in no task log, component log, ledger row or error message."""

from __future__ import annotations

import datetime as dt
import secrets
import subprocess
import time
import uuid

import pytest
import sqlalchemy as sa

from tests.helpers import SCORE_DAILY_TASKS, flights_on, ledger, predictions_fingerprint
from tests.scheduler.conftest import REDIS_URL, VENV_BIN, Deployment, deployment_env, redis_reachable

pytestmark = [pytest.mark.dags, pytest.mark.integration]

DAYS = {"LocalExecutor": dt.date(2013, 9, 9), "CeleryExecutor": dt.date(2013, 9, 10)}


@pytest.fixture(scope="module")
def writer(database_url, engine):
    """A login role with a real password, member of the schema owner: the tasks connect as it."""
    name = f"i7_writer_{uuid.uuid4().hex[:8]}"
    password = f"pw-{secrets.token_hex(12)}"
    with engine.connect() as conn:
        owner = conn.execute(sa.text("select current_user")).scalar_one()
        conn.exec_driver_sql(f"create role {name} login password '{password}' in role \"{owner}\"")
        conn.commit()
    url = database_url._replace(username=name, password=password)
    yield url.render_as_string(hide_password=False), password
    with engine.connect() as conn:
        conn.exec_driver_sql(f"drop owned by {name}")
        conn.exec_driver_sql(f"drop role {name}")
        conn.commit()


@pytest.fixture(scope="module")
def migrated_metadata(airflow_metadata_url, tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow-migrate")
    env = deployment_env(home, airflow_metadata_url, "LocalExecutor", home / "passwords.json")
    started = time.monotonic()
    done = subprocess.run(
        [str(VENV_BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"airflow db migrate on PostgreSQL: {time.monotonic() - started:.1f}s")
    return airflow_metadata_url


@pytest.fixture(scope="module", params=["LocalExecutor", "CeleryExecutor"])
def deployment(request, migrated_metadata, writer, tmp_path_factory):
    executor = request.param
    if executor == "CeleryExecutor" and not redis_reachable(REDIS_URL):
        pytest.skip(f"no Redis reachable at {REDIS_URL} (set BATCHSCORE_TEST_REDIS): CeleryExecutor not tested")
    home = tmp_path_factory.mktemp(f"airflow-{executor}")
    password = secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(f'{{"admin": "{password}"}}')
    env = deployment_env(home, migrated_metadata, executor, home / "passwords.json")
    env["BATCHSCORE_DATABASE_URL"] = writer[0]
    queue = f"i7_{uuid.uuid4().hex[:8]}"
    if executor == "CeleryExecutor":
        env.update(
            {
                "AIRFLOW__CELERY__BROKER_URL": REDIS_URL,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + migrated_metadata,
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,  # our own queue: the broker may be shared
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            }
        )
    dep = Deployment(home, env, password)
    dep.started_at = time.monotonic()  # type: ignore[attr-defined]
    try:
        dep.start("api-server", "api-server", "--port", str(8091))
        dep.start("scheduler", "scheduler")
        dep.start("dag-processor", "dag-processor")
        if executor == "CeleryExecutor":
            dep.start("worker", "celery", "worker", "--queues", queue, "--concurrency", "2")
        dep.wait_healthy()
        dep.executor = executor  # type: ignore[attr-defined]
        dep.queue = queue if executor == "CeleryExecutor" else None  # type: ignore[attr-defined]
        yield dep
    finally:
        dep.stop()


def _wait_for_dag(dep: Deployment, token: str, timeout: float = 180) -> None:
    """Until this deployment's dag-processor has parsed the DAG: the metadata database is shared by both
    executors' deployments, so the DAG exists at once, serialized by the first one with its task queue; a run
    triggered before the second one's parse is sent to that queue, which this deployment's worker never reads."""
    deadline = time.monotonic() + timeout
    queue = getattr(dep, "queue", None)
    while time.monotonic() < deadline:
        dep.check_alive()
        status, body = dep.request("GET", "/api/v2/dags/flight_cancellation__score/tasks/extract", token=token)
        if status == 200 and (queue is None or body.get("queue") == queue):
            return
        time.sleep(1)
    raise AssertionError(f"flight_cancellation__score never parsed:\n{dep.output('dag-processor')}")


def _task_states(dep: Deployment, run_id: str, token: str) -> dict:
    _, body = dep.request("GET", f"/api/v2/dags/flight_cancellation__score/dagRuns/{run_id}/taskInstances", token=token)
    return {t["task_id"]: (t["state"], t["try_number"]) for t in body.get("task_instances", [])}


def test_score_daily_runs_to_success_on_a_real_scheduler(deployment, champion, source, writer):
    dep = deployment
    day = DAYS[dep.executor]  # type: ignore[attr-defined]

    # a login is required: no token, or a wrong password, gets 401
    assert dep.request("GET", "/api/v2/dags")[0] == 401
    assert dep.login("not-the-password")[0] == 401
    status, body = dep.login()
    assert status == 201, body
    token = body["access_token"]
    _wait_for_dag(dep, token)

    # bad params are refused by the API itself: no run is created, no task touches data
    runs_before = dep.request("GET", "/api/v2/dags/flight_cancellation__score/dagRuns", token=token)[1]["total_entries"]
    for bad in ("2013-02-30", "2013-09-09'; drop table batchscore.predictions; --"):
        status, body = dep.request(
            "POST",
            "/api/v2/dags/flight_cancellation__score/dagRuns",
            {"logical_date": None, "conf": {"score_date": bad}},
            token=token,
        )
        assert status == 400, body
    assert (
        dep.request("GET", "/api/v2/dags/flight_cancellation__score/dagRuns", token=token)[1]["total_entries"]
        == runs_before
    )

    assert dep.request("PATCH", "/api/v2/dags/flight_cancellation__score", {"is_paused": False}, token=token)[0] == 200
    triggered = time.monotonic()
    status, body = dep.request(
        "POST",
        "/api/v2/dags/flight_cancellation__score/dagRuns",
        {"logical_date": None, "conf": {"score_date": day.isoformat()}},
        token=token,
    )
    assert status == 200, body
    run_id = body["dag_run_id"]
    state = "queued"
    deadline = time.monotonic() + 420
    while state not in ("success", "failed") and time.monotonic() < deadline:
        time.sleep(2)
        dep.check_alive()
        state = dep.request("GET", f"/api/v2/dags/flight_cancellation__score/dagRuns/{run_id}", token=token)[1].get(
            "state"
        )
    tasks = _task_states(dep, run_id, token)
    assert state == "success", (state, tasks, dep.output("scheduler"), dep.output("worker"))
    took = time.monotonic() - triggered
    print(
        f"{dep.executor}: run {run_id} succeeded {took:.1f}s after the trigger, "  # type: ignore[attr-defined]
        f"{time.monotonic() - dep.started_at:.1f}s after the components started; tasks {tasks}"
    )  # type: ignore[attr-defined]
    assert set(tasks) == SCORE_DAILY_TASKS
    assert all(s == "success" for s, _ in tasks.values())

    expected = flights_on(source, day)
    count, checksum, run_ids = predictions_fingerprint(source, day)
    assert (count, run_ids) == (expected, run_id)
    [row] = ledger(source, run_id)
    assert (row["status"], row["rows_in"], row["rows_out"]) == ("succeeded", expected, expected)
    with source.connect() as conn:
        left = (
            conn.execute(
                sa.text(
                    "select tablename from pg_tables where schemaname = 'batchscore_staging' and tablename like :p"
                ),
                {"p": f"%{day:%Y%m%d}%"},
            )
            .scalars()
            .all()
        )
        print(
            "staging now:",
            conn.execute(
                sa.text(
                    "select string_agg(tablename || '/' || tableowner, ', ') from pg_tables "
                    "where schemaname = 'batchscore_staging'"
                )
            ).scalar(),
        )
    assert left == []  # the run cleaned up its staging tables
    print(f"{dep.executor}: {count} predictions for {day}, checksum {checksum}")

    _assert_no_secret_anywhere(dep, writer[1], source)


def _assert_no_secret_anywhere(dep: Deployment, password: str, engine) -> None:
    task_logs = [
        p for p in (dep.home / "logs").rglob("*") if p.is_file() and "dag_id=flight_cancellation__score" in str(p)
    ]
    assert len(task_logs) >= 6, task_logs  # one per task: the grep below looks at real logs
    assert any("published" in p.read_text(errors="replace") for p in task_logs)
    leaking = [str(p) for p in dep.home.rglob("*") if p.is_file() and password in p.read_text(errors="replace")]
    assert leaking == []
    with engine.connect() as conn:
        ledger_text = conn.execute(
            sa.text("select coalesce(string_agg(r::text, '\n'), '') from batchscore.scoring_runs r")
        ).scalar_one()
        validation_text = conn.execute(
            sa.text("select coalesce(string_agg(v::text, '\n'), '') from batchscore.validation_results v")
        ).scalar_one()
    assert password not in ledger_text and password not in validation_text
