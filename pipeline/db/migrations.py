"""Versioned migrations: ``sql/migrations/NNNN_name.sql``, applied once each, in order, checksummed."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.config.paths import sql_dir
from pipeline.db import bi
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


def migrate(engine: Engine | None = None) -> list[str]:
    """Apply pending migrations in one transaction (one savepoint each); return the names applied now.

    A migration whose file changed after it was applied is an error: fix forward with a new file. The global
    BI views are re-created from their files and the BI role's grants re-applied every time.
    """
    engine = engine or get_engine()
    applied_now: list[str] = []
    with engine.begin() as conn:
        advisory_lock(conn, Lock.MIGRATIONS)
        run_script(conn, read_sql("db/schema_migrations.sql"))
        done = {
            row.version: row.checksum
            for row in conn.execute(sa.text("select version, checksum from batchscore.schema_migrations"))
        }
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
            log.info("applied migration %s", path.name)
        advisory_lock(conn, Lock.BI_VIEWS)
        bi.apply_global_views(conn)
        bi.grant_bi_access(conn)
    return applied_now
