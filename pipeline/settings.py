"""Settings, read from the environment each time they are asked for (never at import)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DATABASE_URL_ENV = "BATCHSCORE_DATABASE_URL"
HOME_ENV = "BATCHSCORE_HOME"
USECASE_ENV = "BATCHSCORE_USECASE"
MODEL_STORE_ENV = "BATCHSCORE_MODEL_STORE"
CHUNK_ROWS_ENV = "BATCHSCORE_CHUNK_ROWS"
PREDICT_THREADS_ENV = "BATCHSCORE_PREDICT_THREADS"
PUBLISH_LOCK_WAIT_ENV = "BATCHSCORE_PUBLISH_LOCK_WAIT"
AIRFLOW_CONN_ENV = "AIRFLOW_CONN_BATCHSCORE_DB"  # Airflow connection ``batchscore_db`` from the environment

DEFAULT_USECASE = "flight_cancellation"
DEFAULT_CHUNK_ROWS = 50_000
DEFAULT_PUBLISH_LOCK_WAIT_S = 600


def project_root() -> Path:
    """The checkout this package lives in (holds ``sql/``, ``usecases/``, ``expectations/``, ``dags/``)."""
    return Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    home: Path
    usecase: str
    model_store: Path
    chunk_rows: int
    predict_threads: int | None  # None: every core the process may use
    publish_lock_wait_s: int  # how long publish keeps trying to swap a date's partition past busy readers

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"


def airflow_conn_to_url(raw: str) -> str:
    """A database URL from an ``AIRFLOW_CONN_*`` value: URI form (``postgresql://...``, ``postgres://...``) or
    Airflow's JSON form (``{"conn_type": "postgres", "host": ..., "login": ..., "password": ..., "port": ...,
    "schema": <database>}``). Errors never echo the value (it holds a password)."""
    raw = raw.strip()
    if not raw.startswith("{"):
        return raw
    try:
        conn = json.loads(raw)
    except ValueError:
        raise ValueError(f"{AIRFLOW_CONN_ENV} is neither a URI nor valid JSON") from None
    if not isinstance(conn, dict) or conn.get("conn_type") not in ("postgres", "postgresql"):
        raise ValueError(f"{AIRFLOW_CONN_ENV} must be a postgres connection (conn_type postgres)")
    from sqlalchemy.engine import URL  # builds and quotes the URL (a password may hold '@', '/', ':')

    return URL.create(
        "postgresql", username=conn.get("login") or None, password=conn.get("password") or None,
        host=conn.get("host") or None, port=int(conn["port"]) if conn.get("port") else None,
        database=conn.get("schema") or None,
    ).render_as_string(hide_password=False)


def load_settings() -> Settings:
    """Read the settings from the environment now."""
    home = Path(os.environ.get(HOME_ENV) or project_root() / ".batchscore").resolve()
    chunk_rows = _positive_int(CHUNK_ROWS_ENV) or DEFAULT_CHUNK_ROWS
    return Settings(
        # BATCHSCORE_DATABASE_URL wins; a deployment may give the Airflow connection instead
        database_url=os.environ.get(DATABASE_URL_ENV) or (
            airflow_conn_to_url(os.environ[AIRFLOW_CONN_ENV]) if os.environ.get(AIRFLOW_CONN_ENV) else None),
        home=home,
        usecase=os.environ.get(USECASE_ENV) or DEFAULT_USECASE,
        model_store=Path(os.environ.get(MODEL_STORE_ENV) or home / "models").resolve(),
        chunk_rows=chunk_rows,
        predict_threads=_positive_int(PREDICT_THREADS_ENV),
        publish_lock_wait_s=_positive_int(PUBLISH_LOCK_WAIT_ENV) or DEFAULT_PUBLISH_LOCK_WAIT_S,
    )


def _positive_int(name: str) -> int | None:
    """The environment variable ``name`` as a positive integer; None when unset or empty."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return value
