"""Fault-suite helpers: scoring processes started as real OS processes, and waits on what Postgres shows."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from pipeline.config.paths import project_root


def start_scoring_process(day: str, run_id: str, log_path) -> subprocess.Popen:
    """`batchscore score --date DAY --run-id RUN` in its own process (and process group), as an operator
    or an Airflow worker would run it; it inherits the session's database URL and model store."""
    code = "import sys; from pipeline.cli import main; sys.exit(main(sys.argv[1:]))"
    log = open(log_path, "wb")  # noqa: SIM115 (closed when the process is reaped)
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "score", "--date", day, "--run-id", run_id],
        cwd=project_root(),
        env=dict(os.environ),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    proc.log_file = log  # type: ignore[attr-defined]
    return proc


def reap(proc: subprocess.Popen, timeout: float = 120) -> int:
    try:
        return proc.wait(timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait(10)
        proc.log_file.close()  # type: ignore[attr-defined]


def wait_for(what: str, probe: Callable[[], object], timeout: float = 90, procs: tuple = ()) -> object:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` (and any process output)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(
                    f"process exited ({p.returncode}) while waiting for {what}: "
                    f"{Path(p.log_file.name).read_text()[-3000:]}"
                )
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def backends_waiting_on(engine, locktype: str, query_like: str | None = None) -> list[int]:
    """Pids of this database's backends waiting for a lock of ``locktype`` (e.g. relation, advisory)."""
    sql = (
        "select a.pid from pg_locks l join pg_stat_activity a on a.pid = l.pid "
        "where not l.granted and l.locktype = :t and a.datname = current_database()"
    )
    params: dict = {"t": locktype}
    if query_like:
        sql += " and a.query ilike :q"
        params["q"] = query_like
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.text(sql), params)]


def backend_alive(engine, pid: int) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(sa.text("select count(*) from pg_stat_activity where pid = :p"), {"p": pid}).scalar())


def staging_leftovers(engine, day) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("select count(*) from pg_tables where schemaname = 'batchscore_staging' and tablename like :p"),
            {"p": f"%{day:%Y%m%d}%"},
        ).scalar_one()
