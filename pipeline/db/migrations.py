"""Versioned migrations: ``sql/migrations/NNNN_name.sql``, applied once each, in order, checksummed."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.config.paths import sql_dir
from pipeline.config.settings import load_settings
from pipeline.db import bi
from pipeline.db.ddl import with_lock_timeout
from pipeline.db.engine import DatabaseConfigError, get_engine, run_script
from pipeline.db.locks import Lock, advisory_lock
from pipeline.db.sql import read_sql

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migration_files() -> list[tuple[int, Path]]:
    """The versioned migrations under ``sql/migrations`` in order; names must be ``NNNN_name.sql``."""
    found = []
    for path in sorted((sql_dir() / "migrations").glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise DatabaseConfigError(f"migration file {path.name} does not follow NNNN_lowercase_name.sql")
        found.append((int(match.group(1)), path))
    versions = [v for v, _ in found]
    if len(set(versions)) != len(versions):
        raise DatabaseConfigError("two migration files share a version number")
    return found


def pending_migrations(engine: Engine) -> list[str]:
    """The migrations not applied yet, by name (read-only: no lock, no DDL); refuses an applied migration whose
    file changed since."""
    with engine.connect() as conn:
        exists = conn.execute(sa.text("select to_regclass('batchscore.schema_migrations') is not null")).scalar_one()
        rows = (
            conn.execute(sa.text("select version, checksum from batchscore.schema_migrations")).all() if exists else []
        )
    done = {int(version): checksum for version, checksum in rows}
    pending = []
    for version, path in migration_files():
        if version not in done:
            pending.append(path.name)
        elif done[version] != hashlib.sha256(path.read_text(encoding="utf-8").encode()).hexdigest():
            raise DatabaseConfigError(
                f"migration {path.name} changed after it was applied; add a new migration instead"
            )
    return pending


def migrate(engine: Engine | None = None, *, refresh: bool = False) -> list[str]:
    """Apply pending migrations in one transaction (one savepoint each); return the names applied now.

    Nothing pending and the global BI views current: no lock and no DDL at all, so a read-only command never waits
    behind a BI session. ``refresh`` (``batchscore db migrate``) re-creates the global views and re-applies the BI
    role's grants and password anyway. Every try runs with a short lock timeout and is retried (readers may hold
    the tables a migration alters). A migration whose file changed after it was applied is an error: fix forward
    with a new file.
    """
    engine = engine or get_engine()
    pending = pending_migrations(engine)
    with engine.connect() as conn:
        stale = bi.global_views() if refresh else bi.stale_views(conn, bi.global_views())
        grants = refresh or bi.grants_needed(conn)
    if not (pending or stale or grants):
        return []

    def work(conn: Connection) -> list[str]:
        applied_now = _apply_pending(conn)
        advisory_lock(conn, Lock.BI_VIEWS)
        bi.apply_views(conn, bi.global_views() if refresh or applied_now else bi.stale_views(conn, bi.global_views()))
        if refresh or applied_now or bi.grants_needed(conn):
            bi.grant_bi_access(conn)
        return applied_now

    applied = with_lock_timeout(
        engine, work, what="migrate", relation="batchscore.scoring_runs", budget_s=load_settings().publish_lock_wait_s
    )
    for name in applied:
        log.info("applied migration %s", name)
    return applied


def _apply_pending(conn: Connection) -> list[str]:
    advisory_lock(conn, Lock.MIGRATIONS)
    run_script(conn, read_sql("db/schema_migrations.sql"))
    done = {
        row.version: row.checksum
        for row in conn.execute(sa.text("select version, checksum from batchscore.schema_migrations"))
    }
    applied_now: list[str] = []
    for version, path in migration_files():
        text = path.read_text(encoding="utf-8")
        checksum = hashlib.sha256(text.encode()).hexdigest()
        if version in done:
            if done[version] != checksum:
                raise DatabaseConfigError(
                    f"migration {path.name} changed after it was applied; add a new migration instead"
                )
            continue
        with conn.begin_nested():
            run_script(conn, text)
            conn.execute(
                sa.text("insert into batchscore.schema_migrations (version, name, checksum) values (:v, :n, :c)"),
                {"v": version, "n": path.name, "c": checksum},
            )
        applied_now.append(path.name)
    return applied_now
