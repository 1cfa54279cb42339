"""Every environment variable batchscore reads, in one typed model, read when asked for (never at import).

:func:`load_settings` reads the environment now and refuses a bad value with one line naming the variable;
secrets (the BI password, the password inside a database URL) are never echoed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, AliasChoices, BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.config.root import project_root
from pipeline.errors import ConfigError

ENV_PREFIX = "BATCHSCORE_"
DATABASE_URL_ENV = "BATCHSCORE_DATABASE_URL"
AIRFLOW_CONN_ENV = "AIRFLOW_CONN_BATCHSCORE_DB"  # the Airflow connection ``batchscore_db`` from the environment
DEFAULT_USECASE = "flight_cancellation"
MAX_SHARDS = 64
#: read by the deployment (docker-compose.yml, deploy/*.sh), not by the package; accepted in the environment
DEPLOYMENT_VARIABLES = {
    "BATCHSCORE_WRITER_PASSWORD": "password of the pipeline's database role, for the compose deployment's init",
    "BATCHSCORE_LOAD_DEMO": "1: the compose deployment's init loads the demo data and trains a champion",
    "BATCHSCORE_IMAGE": "the Airflow image the compose deployment runs",
}


class SettingsError(ConfigError):
    """An environment variable holds a value batchscore cannot use."""


def _blank_is_unset(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _positive_int(value: Any) -> Any:
    value = _blank_is_unset(value)
    if value is None or isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"must be a positive integer, got {value!r}") from None
    if number <= 0:
        raise ValueError(f"must be a positive integer, got {number}")
    return number


def _port(value: Any) -> Any:
    value = _blank_is_unset(value)
    if value is None:
        return None
    try:
        port = int(str(value).strip())
    except ValueError:
        port = -1
    if not 0 <= port <= 65535 or isinstance(value, bool):
        raise ValueError(f"must be a TCP port from 1 to 65535, or 0 for a free one, got {value!r}")
    return port


def _shard_count(value: Any) -> Any:
    value = _blank_is_unset(value)
    if value is None:
        return None
    try:
        count = int(str(value).strip())
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_SHARDS or isinstance(value, bool):
        raise ValueError(f"must be a whole number of shards from 1 to {MAX_SHARDS}, got {value!r}")
    return count


PositiveInt = Annotated[int, BeforeValidator(_positive_int)]
OptionalPositiveInt = Annotated[int | None, BeforeValidator(_positive_int)]


class Settings(BaseSettings):
    """The environment of one process (``BATCHSCORE_<FIELD>``); defaults make the embedded setup work alone."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True, env_ignore_empty=True)

    database_url: Annotated[str | None, BeforeValidator(_blank_is_unset)] = Field(
        None,
        description="the PostgreSQL to use; unset: `AIRFLOW_CONN_BATCHSCORE_DB`, else the embedded server "
        "(after loading: the URL in use, from either)",
    )
    airflow_conn: Annotated[SecretStr | None, BeforeValidator(_blank_is_unset)] = Field(
        None,
        validation_alias=AliasChoices(AIRFLOW_CONN_ENV),
        description="the Airflow connection `batchscore_db` (URI or JSON form), used when no URL is set",
    )
    home: Annotated[Path, BeforeValidator(_blank_is_unset), AfterValidator(lambda p: p.resolve())] = Field(
        default_factory=lambda: project_root() / ".batchscore",
        description="local state: embedded database, models, Airflow home, reports (default `.batchscore/`)",
    )
    usecase: Annotated[str | None, BeforeValidator(_blank_is_unset)] = Field(
        None, description=f"the use case (a name in `usecases/` or a TOML path; default `{DEFAULT_USECASE}`)"
    )
    usecases_dir: Annotated[Path | None, BeforeValidator(_blank_is_unset)] = Field(
        None,
        description="the folder of the deployment's use-case files; the DAGs are generated from every `*.toml` "
        "in it (default `usecases/` of the checkout; SQL paths stay relative to `sql/`)",
    )
    model_store_dir: Annotated[Path | None, BeforeValidator(_blank_is_unset)] = Field(
        None,
        validation_alias=AliasChoices("BATCHSCORE_MODEL_STORE"),
        description="where model artifacts are written (default `$BATCHSCORE_HOME/models`)",
    )
    chunk_rows: PositiveInt = Field(50_000, description="rows per scoring chunk")
    predict_threads: OptionalPositiveInt = Field(
        None,
        description="threads for prediction (default: every core the process may use; capped by `OMP_NUM_THREADS`)",
    )
    publish_lock_wait_s: PositiveInt = Field(
        600,
        validation_alias=AliasChoices("BATCHSCORE_PUBLISH_LOCK_WAIT"),
        description="seconds publish keeps trying to swap a date's partition while readers hold the table",
    )
    shards: Annotated[int | None, BeforeValidator(_shard_count)] = Field(
        None, description=f"parallel `score` tasks per run, 1-{MAX_SHARDS} (default: the use case's `[scoring] shards`)"
    )
    data_docs_keep: PositiveInt = Field(60, description="validation results kept in the Data Docs site")
    staging_max_age_hours: PositiveInt = Field(
        24,
        description="hours after which the staging tables of a run that died count as abandoned: the next run "
        "drops them (so does `batchscore db vacuum-staging`)",
    )
    embedded_tcp_port: Annotated[int | None, BeforeValidator(_port)] = Field(
        None,
        description="the embedded server also listens on 127.0.0.1 at this port, with SCRAM passwords (for BI tools "
        "that cannot use a unix socket); 0: a free port, chosen once and kept; unset: the socket only",
    )
    bi_password: Annotated[SecretStr | None, BeforeValidator(_blank_is_unset)] = Field(
        None, description="password of the read-only BI role, set by `batchscore db migrate` (unset: no login)"
    )
    airflow_port: PositiveInt = Field(8080, description="port of `batchscore airflow` (the local Airflow UI)")
    test_database_url: Annotated[str | None, BeforeValidator(_blank_is_unset)] = Field(
        None, description="tests only: create (and drop) a fresh database on this server; unset: embedded"
    )
    test_airflow_pg: str = Field(
        "postgresql://postgres@127.0.0.1:5432/postgres",
        description="tests only: server for the real-scheduler tests' Airflow metadata (skipped if unreachable)",
    )
    test_redis: str = Field(
        "redis://127.0.0.1:6379/0", description="tests only: Celery broker of the real-scheduler tests"
    )

    @property
    def pgdata(self) -> Path:
        """The embedded server's data directory."""
        return self.home / "pgdata"

    @property
    def airflow_home(self) -> Path:
        """The project-local Airflow home (``batchscore airflow``, ``batchscore run``, the demo)."""
        return self.home / "airflow"

    @property
    def model_store(self) -> Path:
        """Where model artifacts are written: ``BATCHSCORE_MODEL_STORE``, else ``$BATCHSCORE_HOME/models``."""
        return (self.model_store_dir or self.home / "models").resolve()

    @property
    def default_usecase(self) -> str:
        """The use case a command addresses when none is named."""
        return self.usecase or DEFAULT_USECASE


def env_name(field: str) -> str:
    """The environment variable of a :class:`Settings` field."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"{ENV_PREFIX}{field.upper()}"


def _refuse_unknown_variables() -> None:
    """A ``BATCHSCORE_*`` variable that is no setting is a typo until proven otherwise: name the closest one."""
    import difflib
    import os

    known = {env_name(field) for field in Settings.model_fields} | set(DEPLOYMENT_VARIABLES)
    for name in sorted(n for n in os.environ if n.startswith(ENV_PREFIX) and n not in known):
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise SettingsError(f"{name} is not a batchscore setting{hint}; see docs/reference/environment.md")


def load_settings(*, refuse_unknown: bool = True) -> Settings:
    """Read the settings from the environment now (``refuse_unknown=False``: tolerate a misspelt variable, for
    code that runs while another error is being reported)."""
    if refuse_unknown:
        _refuse_unknown_variables()
    try:
        settings = Settings()
    except ValidationError as exc:
        error = exc.errors(include_input=False)[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        name = env_name(field) if field in Settings.model_fields else field
        message = str(error.get("ctx", {}).get("error") or error["msg"])
        raise SettingsError(f"{name} {message}") from None
    if not settings.database_url and settings.airflow_conn is not None:
        # BATCHSCORE_DATABASE_URL wins; a deployment may give the Airflow connection instead
        settings = settings.model_copy(
            update={"database_url": airflow_conn_to_url(settings.airflow_conn.get_secret_value())}
        )
    return settings


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
        raise SettingsError(f"{AIRFLOW_CONN_ENV} is neither a URI nor valid JSON") from None
    if not isinstance(conn, dict) or conn.get("conn_type") not in ("postgres", "postgresql"):
        raise SettingsError(f"{AIRFLOW_CONN_ENV} must be a postgres connection (conn_type postgres)")
    from sqlalchemy.engine import URL  # builds and quotes the URL (a password may hold '@', '/', ':')

    return URL.create(
        "postgresql",
        username=conn.get("login") or None,
        password=conn.get("password") or None,
        host=conn.get("host") or None,
        port=int(conn["port"]) if conn.get("port") else None,
        database=conn.get("schema") or None,
    ).render_as_string(hide_password=False)
