"""A real Airflow deployment for tests: api-server, scheduler, dag-processor (and a Celery worker) as separate
processes on a fresh PostgreSQL metadata database, each in its own process group and always stopped.

Metadata: a database ``i7_meta_*`` on 127.0.0.1:5432 (``BATCHSCORE_TEST_AIRFLOW_PG``, default
``postgresql://postgres@127.0.0.1:5432/postgres``), dropped afterwards. Ports 8091-8099.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from pipeline.config.paths import project_root
from pipeline.config.settings import load_settings
from pipeline.orchestration.local import TASK_EXIT_LATENCY_FIX

API_PORT = 8091
LOG_SERVER_PORT = 8093
ADMIN_PG = load_settings().test_airflow_pg
REDIS_URL = load_settings().test_redis
VENV_BIN = Path(sys.executable).parent


def _admin_engine() -> sa.Engine:
    from pipeline.db.engine import normalise_url

    return sa.create_engine(
        normalise_url(ADMIN_PG),
        isolation_level="AUTOCOMMIT",
        poolclass=sa.pool.NullPool,
        connect_args={"connect_timeout": 3},
    )


@pytest.fixture(scope="session")
def airflow_metadata_url():
    """A fresh, migrated Airflow metadata database on the local PostgreSQL server."""
    from pipeline.db.engine import redact

    admin = _admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError:
        pytest.skip(
            f"no PostgreSQL reachable at {redact(ADMIN_PG)} for Airflow's metadata database "
            "(set BATCHSCORE_TEST_AIRFLOW_PG)"
        )
    name = f"i7_meta_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'create database "{name}"')
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()",
                (name,),
            )
            conn.exec_driver_sql(f'drop database if exists "{name}"')
        admin.dispose()


@dataclass
class Deployment:
    """Airflow components started from the venv, sharing one environment; logs under ``home``."""

    home: Path
    env: dict[str, str]
    password: str
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    base: str = f"http://127.0.0.1:{API_PORT}"

    def start(self, name: str, *args: str) -> None:
        log = (self.home / f"{name}.out").open("ab")
        self.procs[name] = subprocess.Popen(
            [str(VENV_BIN / "airflow"), *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.home,
        )
        log.close()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        for proc in self.procs.values():  # children of a component that outlived their parent
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    def output(self, name: str, chars: int = 4000) -> str:
        path = self.home / f"{name}.out"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"airflow {name} exited with {proc.returncode}:\n{self.output(name)}")

    # --- REST API -----------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        token: str | None = None,
    ) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(
            self.base + path,
            method=method,
            headers=headers,
            data=json.dumps(body).encode() if body is not None else None,
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else {}
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                return err.code, json.loads(raw)
            except ValueError:
                return err.code, {"raw": raw.decode(errors="replace")}

    def wait_healthy(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                status, _ = self.request("GET", "/api/v2/monitor/health")
                if status == 200:
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(1)
        raise AssertionError(f"api-server not healthy after {timeout}s:\n{self.output('api-server')}")

    def login(self, password: str | None = None) -> tuple[int, dict]:
        return self.request("POST", "/auth/token", {"username": "admin", "password": password or self.password})


def deployment_env(home: Path, metadata_url: str, executor: str, password_file: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PATH": os.pathsep.join([str(VENV_BIN), env.get("PATH", "")]),
            "PYTHONPATH": str(project_root()),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(project_root() / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(LOG_SERVER_PORT),
            "AIRFLOW__API__PORT": str(API_PORT),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{API_PORT}",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{API_PORT}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            # only the runs a test triggers: unpausing must not start tonight's scheduled run too
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            **TASK_EXIT_LATENCY_FIX,  # as deployed (docker-compose.yml, batchscore airflow)
        }
    )
    env.pop("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", None)
    return env


def redis_reachable(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except Exception:
        return False
