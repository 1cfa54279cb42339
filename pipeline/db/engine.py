"""Database access: the URL in use, the embedded PostgreSQL, engines, and running SQL scripts."""

from __future__ import annotations

import logging
import os
import re
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from pipeline.config.settings import DATABASE_URL_ENV, Settings, load_settings
from pipeline.errors import ConfigError

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "batchscore"

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_embedded: dict[Path, Any] = {}


class DatabaseConfigError(ConfigError):
    """The configured database URL, or the schema's migration files, are unusable."""


def normalise_url(raw: str) -> URL:
    """Parse a ``postgresql://`` style URL and pin the psycopg2 driver.

    Raises :class:`DatabaseConfigError` without echoing the URL (it may hold a password).
    """
    authority = raw.split("://", 1)[-1].split("?", 1)[0]
    if authority.count("@") > 1:  # the parser would take part of the password for the host and show it
        raise DatabaseConfigError(
            f"{DATABASE_URL_ENV} holds an unescaped '@' in its user name or password: write it as %40 "
            "(the URL is not shown: it holds a password)"
        )
    try:
        url = make_url(raw)
    except Exception:
        raise DatabaseConfigError(
            f"{DATABASE_URL_ENV} is not a valid database URL (expected postgresql://user:password@host:port/db)"
        ) from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise DatabaseConfigError(
            f"{DATABASE_URL_ENV} must point at PostgreSQL, got backend {url.get_backend_name()!r}"
        )
    return url.set(drivername="postgresql+psycopg2")


def redact(url: URL | str) -> str:
    """The URL as text with any password masked, safe for logs and messages."""
    parsed = url if isinstance(url, URL) else make_url(url)
    if not parsed.password:
        # nothing to hide, and "***" would only confuse a copy-paste (URL.set ignores None, hence _replace)
        parsed = parsed._replace(password=None)
    return parsed.render_as_string(hide_password=True)


_URL_CREDENTIALS = re.compile(r"([a-zA-Z][\w+.-]*://[^:/@\s]+:)[^@\s]+@")


def redact_text(text: str) -> str:
    """Free text (an error message) with passwords of URLs in it, and the configured one, masked."""
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    try:
        url = load_settings(refuse_unknown=False).database_url
        password = make_url(url).password if url else None
    except Exception:  # the settings may be what failed: the URL pattern above still masks URL passwords
        password = None
    return text.replace(password, "***") if password else text


def start_embedded(pgdata: Path, *, cleanup_mode: str | None = None) -> URL:
    """Start (or attach to) an embedded PostgreSQL in ``pgdata``; return a URL for its ``batchscore`` database.

    The project's server keeps running between commands, so Airflow tasks, the demo and your own queries
    share it without restarts; ``batchscore db stop`` stops it cleanly. Tests pass ``cleanup_mode="delete"``
    for a throwaway cluster that is removed when the process exits.
    """
    with _lock:
        server = _embedded.get(pgdata)
        if server is None:
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            server = _pgserver_get_server(pgdata, cleanup_mode)
            _embedded[pgdata] = server
    wanted = load_settings(refuse_unknown=False).embedded_tcp_port
    if wanted is not None:
        _serve_tcp(pgdata, server, wanted)
    info = server.get_postmaster_info()
    admin = make_url(server.get_uri()).set(drivername="postgresql+psycopg2")._replace(password=None)
    if info.port and info.port != 5432:  # the socket's file name carries the port: another one must be said
        admin = admin.update_query_dict({"port": str(info.port)})
    _ensure_database(admin, EMBEDDED_DATABASE)
    return admin.set(database=EMBEDDED_DATABASE)


def _serve_tcp(pgdata: Path, server: Any, wanted: int) -> None:
    """Make the embedded server listen on 127.0.0.1 as well (SCRAM passwords over TCP), restarting it if needed."""
    from pipeline.db import listener

    port = listener.chosen_port(pgdata.parent, wanted)
    changed = listener.ensure_scram_for_tcp(pgdata)
    info = server.get_postmaster_info()
    if listener.listens_on(info, port) and not changed:
        return
    import_pgserver(pgdata)
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    dispose_engines()
    listener.restart_with_tcp(pgdata, info.socket_dir, port, pg_ctl, pgdata / "log")
    from pgserver.utils import PostmasterInfo  # type: ignore[import-untyped]

    server._postmaster_info = PostmasterInfo.read_from_pgdata(pgdata)  # a new pid and port (pgserver's own field)
    log.info("the embedded PostgreSQL listens on 127.0.0.1:%d too (SCRAM passwords over TCP)", port)


def import_pgserver(pgdata: Path) -> Any:
    """The ``pgserver`` module, imported so that its inter-process lock lives next to ``pgdata``."""
    # pgserver keeps its inter-process lock in the XDG runtime dir, read when the module is imported: point
    # it into the project (where all our processes find the same lock) and avoid its warning when unset
    runtime = pgdata.parent / "run"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    runtime.chmod(0o700)
    previous = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    try:
        import pgserver

        logging.getLogger("pgserver").setLevel(logging.WARNING)
        return pgserver
    finally:
        if previous is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = previous


def _pgserver_get_server(pgdata: Path, cleanup_mode: str | None) -> Any:
    return import_pgserver(pgdata).get_server(pgdata, cleanup_mode=cleanup_mode)


def _ensure_database(admin_url: URL, name: str) -> None:
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            exists = conn.execute(sa.text("select 1 from pg_database where datname = :n"), {"n": name}).scalar()
            if not exists:
                conn.exec_driver_sql(f'create database "{name}"')
    finally:
        engine.dispose()


def database_url(settings: Settings | None = None) -> URL:
    """The URL in use: ``BATCHSCORE_DATABASE_URL`` when set, else the embedded server (started on demand)."""
    settings = settings or load_settings()
    if settings.database_url:
        return normalise_url(settings.database_url)
    return start_embedded(settings.pgdata)


def embedded_tcp_url(username: str, settings: Settings | None = None) -> URL | None:
    """The libpq URL at which ``username`` reaches the embedded server over TCP (a BI tool), when
    ``BATCHSCORE_EMBEDDED_TCP_PORT`` is set and no other database is configured; else None."""
    settings = settings or load_settings()
    if settings.database_url or settings.embedded_tcp_port is None:
        return None
    port = database_url(settings).query.get("port")
    return URL.create(
        "postgresql", username=username, host="127.0.0.1", port=int(str(port)), database=EMBEDDED_DATABASE
    )


def get_engine(settings: Settings | None = None) -> Engine:
    """A cached engine for the database in use (one per URL and process)."""
    url = database_url(settings)
    key = url.render_as_string(hide_password=False)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = sa.create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)
            _engines[key] = engine
    return engine


def dispose_engines() -> None:
    """Close every pooled connection of this process (before forking, or at the end of a test)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def run_script(conn: sa.Connection, script: str) -> None:
    """Execute a multi-statement SQL script on the connection's DBAPI cursor (no parameter parsing).

    A failure raises the exception ``conn.execute`` would (``sa.exc.OperationalError``, ``IntegrityError``, ...,
    the driver's error as ``.orig``), so callers handle both the same way.
    """
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    driver_error = conn.dialect.loaded_dbapi.Error
    with closing(dbapi.cursor()) as cur:
        try:
            cur.execute(script)
        except driver_error as exc:
            raise sa.exc.DBAPIError.instance(script, None, exc, driver_error, dialect=conn.dialect) from exc


def stop_embedded(settings: Settings | None = None) -> bool:
    """Stop the project-local PostgreSQL if it runs (``batchscore db stop``); True when it was stopped."""
    settings = settings or load_settings()
    pgdata = settings.pgdata
    if not (pgdata / "postmaster.pid").exists():
        return False
    dispose_engines()
    # pgserver's own stop only fires when the last attached process exits; stop it explicitly
    import_pgserver(pgdata)
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # private; pgserver stops with it too

    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    (pgdata / ".handle_pids.json").unlink(missing_ok=True)
    with _lock:
        _embedded.pop(pgdata, None)
    return True
