"""Run our DAGs through a project-local Airflow: ``dag.test`` runs and the standalone UI.

Airflow reads its configuration when first imported, so :func:`configure_airflow_env` must run before any
``import airflow`` in the process. The metadata database is SQLite in ``.batchscore/airflow``; the data
itself stays in the batchscore PostgreSQL.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config.paths import dags_dir, project_root
from pipeline.config.settings import load_settings
from pipeline.errors import ConfigError, TransientError
from pipeline.orchestration.naming import DATE_PARAM, parse_dag_id


def configure_airflow_env(*, logging_level: str = "ERROR") -> Path:
    """Point Airflow at the project-local home and our ``dags/`` folder (before importing airflow)."""
    home = load_settings().airflow_home
    home.mkdir(parents=True, exist_ok=True)
    if "airflow" in sys.modules and os.environ.get("AIRFLOW_HOME") != str(home):
        raise ConfigError("airflow was imported before batchscore configured AIRFLOW_HOME")
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_dir())
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "False"
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", logging_level)
    # the scheduler and workers import `pipeline` from this checkout
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(project_root()), os.environ.get("PYTHONPATH", "")) if p)
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient`")
    warnings.filterwarnings("ignore", message=r"Multiple rows returned with uselist=False")
    return home


def ensure_airflow_db() -> None:
    """Create Airflow's metadata database when it does not exist yet (idempotent)."""
    configure_airflow_env()
    import sqlalchemy
    from airflow import settings
    from airflow.utils import db as airflow_db

    if not sqlalchemy.inspect(settings.engine).has_table("alembic_version"):
        airflow_db.initdb()


_dags: dict[str, Any] = {}
_param_defaults: dict[str, dict[str, Any]] = {}
_declared_retries: dict[str, dict[str, int | None]] = {}


def param_defaults(dag_id: str) -> dict[str, Any]:
    """The DAG's params as declared (pass all of them to every run: Airflow keeps the last run's values)."""
    if dag_id not in _param_defaults:
        load_dag(dag_id)
    return dict(_param_defaults[dag_id])


def load_dag(dag_id: str, *, retries: int | None = 0) -> Any:
    """The DAG object from ``dags/``; tasks get ``retries`` (0: a local run fails fast instead of sleeping;
    None: the retries the DAG file declares). A refused use-case file does not stop the others' DAGs: it is
    named only when the DAG asked for is missing."""
    ensure_airflow_db()
    if dag_id not in _dags:
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(dags_dir()))
        if dag_id not in bag.dags:
            problems = "; ".join(f"{Path(k).name}: {_last_line(v)}" for k, v in sorted(bag.import_errors.items()))
            raise ConfigError(
                f"no DAG {dag_id!r} in {dags_dir()} (found: {', '.join(sorted(bag.dags)) or 'none'})"
                + (f"; import errors: {problems}" if problems else "")
            )
        dag = bag.dags[dag_id]
        # Param objects are resolved in place by each run: keep the pristine defaults to pass every time
        _param_defaults[dag_id] = dag.params.dump()
        _declared_retries[dag_id] = {t.task_id: t.retries for t in dag.tasks}
        _dags[dag_id] = dag
    dag = _dags[dag_id]
    for t in dag.tasks:
        t.retries = _declared_retries[dag_id][t.task_id] if retries is None else retries
    return dag


def _last_line(error: str) -> str:
    """The last line of an import error's traceback: the exception, or for a refused use-case file its last
    problem (the whole list is in the Airflow UI)."""
    lines = error.strip().splitlines()
    return lines[-1] if lines else error


@dataclass
class RunOutcome:
    """What one ``dag.test`` run ended with."""

    dag_id: str
    run_id: str | None
    state: str
    failed_tasks: list[str] = field(default_factory=list)
    reason: str | None = None
    seconds: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.state == "success"

    def summary(self) -> str:
        line = f"{self.dag_id} run {self.run_id}: {self.state} in {self.seconds:.1f}s"
        if self.failed_tasks:
            line += f"; failed tasks: {', '.join(self.failed_tasks)}"
        if self.reason:
            line += f"\n{self.reason}"
        return line


def run_request(
    dag_or_kind: str, usecase: str | None, date: str | None, conf: str | None
) -> tuple[str, dt.date | None, dict[str, Any]]:
    """What ``batchscore run`` asks for, checked before any database or Airflow work: the DAG id (a DAG id, or a
    kind of ``usecase``), the date (within the use case's ``[scoring] score_dates``) and the conf object."""
    from pipeline.config.loading import load_usecase
    from pipeline.orchestration.naming import resolve_dag_id
    from pipeline.scoring.dates import check_in_window, parse_date

    try:
        params = json.loads(conf) if conf else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--conf is not valid JSON: {exc}") from None
    if not isinstance(params, dict):
        raise ConfigError("--conf must be a JSON object")
    dag_id = resolve_dag_id(dag_or_kind, usecase, load_settings().default_usecase)
    parsed = parse_dag_id(dag_id)
    assert parsed is not None
    day = None
    if date:
        day = check_in_window(load_usecase(parsed[0]), parse_date(date, what="--date"), what="--date")
    return dag_id, day, params


def run_dag(dag_id: str, day: dt.date | None, conf: dict[str, Any] | None = None) -> RunOutcome:
    """One run of ``dag_id`` through Airflow's ``dag.test`` in this process.

    ``day`` goes into the DAG's date param (``score_date``, ``cutoff_date``) and sets the logical date to when
    the use case's scheduled run for it would fire (:func:`pipeline.scoring.dates.scheduled_fire_time`). Params
    are validated before Airflow touches anything; a ``conf`` key the DAG does not declare is refused.
    """
    import time

    dag = load_dag(dag_id)
    from airflow.sdk.exceptions import ParamValidationError

    unknown = sorted(set(conf or {}) - set(_param_defaults[dag_id]))
    if unknown:
        hint = (
            " (the use case is the DAG's: run <use case>__<kind>, or the kind with --usecase)"
            if ("usecase" in unknown or "use_case" in unknown)
            else ""
        )
        raise ConfigError(
            f"{dag_id} has no param {', '.join(map(repr, unknown))}; its params: "
            f"{', '.join(sorted(_param_defaults[dag_id]))}{hint}"
        )
    full_conf = {**_param_defaults[dag_id], **(conf or {})}
    parsed = parse_dag_id(dag_id)
    param = DATE_PARAM.get(parsed[1]) if parsed else None
    if param and day is not None:
        full_conf[param] = day.isoformat()
    elif param and not full_conf.get(param):
        raise ConfigError(f"{dag_id} needs a date: pass --date YYYY-MM-DD")
    params = copy.deepcopy(dag.params)
    try:
        params.update(full_conf)
        params.validate()
    except ParamValidationError as exc:
        # dag.test deletes an earlier run of the same logical date before it validates: check first
        raise ConfigError(f"invalid params for {dag_id}: {str(exc).splitlines()[0]}") from None
    logical = _fire_time(parsed, day) if (parsed and param and day) else None
    started = time.perf_counter()
    # dag.test deletes any run of the same logical date: never while another one runs
    with _only_run_of(dag_id, logical, day), contextlib.redirect_stdout(sys.stderr):
        run = dag.test(logical_date=logical, run_conf=full_conf)
    failed = sorted(ti.task_id for ti in run.get_task_instances() if ti.state == "failed")
    state = str(getattr(run.state, "value", run.state))
    reason = None
    if state != "success":
        from pipeline.db.engine import get_engine
        from pipeline.db.ledger import last_failure_reason

        reason = last_failure_reason(get_engine(), run.run_id, parsed[0] if parsed else None)
    return RunOutcome(dag_id, run.run_id, state, failed, reason, time.perf_counter() - started)


def _fire_time(parsed: tuple[str, str], day: dt.date) -> dt.datetime:
    """When the scheduled run of the use case's DAG for ``day`` fires (its ``[schedule]``)."""
    from pipeline.config.loading import load_usecase
    from pipeline.scoring.dates import scheduled_fire_time

    usecase, kind = parsed
    return scheduled_fire_time(load_usecase(usecase).schedule, day, scoring=kind == "score")


class RunInProgress(TransientError):
    """Another run of the same DAG and date is going on; this one was not started."""


@contextlib.contextmanager
def _only_run_of(dag_id: str, logical: dt.datetime | None, day: dt.date | None) -> Iterator[None]:
    """Hold the (DAG, logical date) for this process, or refuse: a lock file per pair in the Airflow home, and no
    active run of that pair in Airflow's metadata (a run the scheduler started)."""
    import fcntl

    what = f"{dag_id} for {day.isoformat() if day else 'its date'}"
    folder = load_settings().airflow_home / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = f"{logical:%Y%m%dT%H%M%S}" if logical else "undated"
    with (folder / f"{dag_id}-{stamp}.lock").open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            who = f"pid {holder}" if holder else "starting"
            raise RunInProgress(
                f"{what} is already running (batchscore, {who}): wait for it to finish, then run again"
            ) from None
        try:
            # the holder's pid first, so that a refused process can name it while this one asks Airflow
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            active = _active_run(dag_id, logical) if logical is not None else None
            if active:
                raise RunInProgress(
                    f"{what} is already running in Airflow ({active}): wait for it to finish, then run again"
                )
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _active_run(dag_id: str, logical: dt.datetime) -> str | None:
    """The run id of a queued or running run of ``dag_id`` at ``logical`` in Airflow's metadata, if any."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(
            select(DagRun.run_id).where(
                DagRun.dag_id == dag_id, DagRun.logical_date == logical, DagRun.state.in_(["queued", "running"])
            )
        )


def task_return(dag_id: str, run_id: str, task_id: str) -> Any:
    """What a task of a finished run returned (its XCom), or None."""
    ensure_airflow_db()
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(XComModel.get_many(run_id=run_id, dag_ids=dag_id, task_ids=task_id)).first()
        return XComModel.deserialize_value(row) if row is not None else None


def _admin_password(home: Path) -> str:
    """A per-project admin password, generated once and kept in the Airflow home (never in the repo)."""
    path = home / "simple_auth_manager_passwords.json"
    if path.exists():
        return json.loads(path.read_text())["admin"]
    password = secrets.token_urlsafe(12)
    path.write_text(json.dumps({"admin": password}))
    path.chmod(0o600)
    return password


def standalone_env(home: Path, port: int) -> dict[str, str]:
    """What ``airflow standalone`` gets on top of the environment: the simple auth manager with one admin
    whose password is in the Airflow home (a login is required; never ``all_admins``)."""
    return {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "simple_auth_manager_passwords.json"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        # the log servers' fixed default ports clash between two checkouts running `batchscore airflow`
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": _log_server_port("WORKER_LOG_SERVER_PORT", 8793),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": _log_server_port("TRIGGER_LOG_SERVER_PORT", 8794),
        **TASK_EXIT_LATENCY_FIX,
    }


def _log_server_port(option: str, default: int) -> str:
    """The port set for ``[logging] option``, else ``default`` when it is free, else a free one."""
    from pipeline.db.listener import free_port, port_in_use

    given = os.environ.get(f"AIRFLOW__LOGGING__{option}")
    if given:
        return given
    return str(default if not port_in_use(default) else free_port())


def check_ui_port(port: int) -> None:
    """Refuse, in one line, a UI port something already listens on (another `batchscore airflow`, say)."""
    from pipeline.db.listener import port_in_use

    if port_in_use(port):
        raise ConfigError(
            f"port {port} is in use (another `batchscore airflow`?): stop it, or choose another "
            "port with --port or BATCHSCORE_AIRFLOW_PORT"
        )


# Airflow 3.3's task supervisor notices a finished task process at its next heartbeat check when the process
# had closed its sockets but not quite exited at the last check: up to min_heartbeat_interval (5 s by default)
# during which the worker slot stays taken. Seen holding back the second shard of a scaled-out run (the two
# shards then ran one after the other); 1 s keeps it short at one heartbeat a second per running task.
TASK_EXIT_LATENCY_FIX = {"AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1"}


def standalone(port: int = 8080) -> int:
    """Run ``airflow standalone`` on the project-local home until Ctrl-C; DAGs unpaused, login required."""
    from pipeline.db.engine import database_url

    check_ui_port(port)
    home = configure_airflow_env(logging_level="INFO")
    ensure_airflow_db()
    password = _admin_password(home)
    env = {**os.environ, **standalone_env(home, port)}
    url = database_url()  # starts the embedded server, held by this process while Airflow runs
    if not load_settings().database_url:
        env["BATCHSCORE_DATABASE_URL"] = url.render_as_string(hide_password=False)
    log_path = home / "standalone.log"
    print(f"Airflow UI: http://localhost:{port}  (user admin, password {password})")
    print(f"DAGs from {dags_dir()}, unpaused; logs in {log_path}. Ctrl-C stops everything.")

    def _interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops Airflow's whole process group too
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(
            ["airflow", "standalone"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            return proc.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
