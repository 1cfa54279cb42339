"""The BI contract: the views in ``sql/views`` and the read-only role that may select them (and nothing else).

Views are re-created from their files (``create or replace``) after every migration and, for the views over
a use case's predictions table, after every nightly run; so a view is changed by editing its file. The role
``batchscore_bi`` (created by migration 0005) gets USAGE on the schema and SELECT on the ``v_*`` views only;
every other privilege on the schema's tables is revoked each time, so a table never leaks to it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.sqlfiles import load_sql, qualified, quote_ident
from pipeline.usecase import UseCase

log = logging.getLogger(__name__)

BI_ROLE = "batchscore_bi"
BI_PASSWORD_ENV = "BATCHSCORE_BI_PASSWORD"
SCHEMA = "batchscore"
GLOBAL_VIEWS = ("v_drift", "v_model_performance", "v_promotions")
USECASE_VIEWS = ("latest_predictions", "daily_summary")  # named <views_prefix><name> per use case
VIEWS_LOCK_KEY = 7_146_005


def lock_views(conn: Connection) -> None:
    """Serialise view and grant changes: two concurrent CREATE OR REPLACE VIEW or GRANT statements on the same
    object fail with "tuple concurrently updated" (two use cases finishing their night at once)."""
    conn.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": VIEWS_LOCK_KEY})


def quote_name_literal(name: str) -> str:
    """A validated identifier-shaped name (a use case) as a SQL string literal, for view definitions,
    which cannot take bind parameters."""
    quote_ident(name, what="use-case name")  # raises unless [a-z_][a-z0-9_]*: no quote can get in
    return f"'{name}'"


def usecase_view_names(uc: UseCase) -> dict[str, str]:
    """``latest_predictions`` / ``daily_summary`` -> the use case's view name (e.g. ``v_latest_predictions``)."""
    return {view: f"{uc.views_prefix}{view}" for view in USECASE_VIEWS}


def apply_global_views(conn: Connection) -> None:
    """(Re)create the views over the monitoring tables, which exist for every use case."""
    from pipeline.db import run_script

    for view in GLOBAL_VIEWS:
        run_script(conn, load_sql(f"views/{view}.sql"))


def apply_usecase_views(conn: Connection, uc: UseCase) -> None:
    """(Re)create the views over the use case's predictions table (created first when missing)."""
    from pipeline.publish import ensure_predictions_table

    ensure_predictions_table(conn, uc)
    apply_usecase_view_files(conn, uc)


def apply_usecase_view_files(conn: Connection, uc: UseCase) -> None:
    """``create or replace`` the use case's views from their files, over its current predictions table."""
    from pipeline.db import run_script
    from pipeline.publish import predictions_table

    for view, name in usecase_view_names(uc).items():
        run_script(conn, load_sql(f"views/v_{view}.sql", view=qualified(SCHEMA, name),
                                  predictions=predictions_table(uc), use_case=quote_name_literal(uc.name)))


def grant_bi_access(conn: Connection) -> bool:
    """SELECT on every ``batchscore.v_*`` view for the BI role and nothing else; False when the role is absent."""
    role = quote_ident(BI_ROLE, what="role name")
    exists = conn.execute(sa.text("select exists (select from pg_roles where rolname = :r)"), {"r": BI_ROLE})
    if not exists.scalar_one():
        log.warning("role %s does not exist (created by a migration run with CREATEROLE)", BI_ROLE)
        return False
    views = conn.execute(
        sa.text("select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = :s and c.relkind = 'v' and c.relname like 'v\\_%' order by 1"),
        {"s": SCHEMA},
    ).scalars().all()
    statements = [
        f"revoke all on all tables in schema {quote_ident(SCHEMA)} from {role}",
        f"revoke all on all sequences in schema {quote_ident(SCHEMA)} from {role}",
        f"revoke create on schema {quote_ident(SCHEMA)} from {role}",
        f"grant usage on schema {quote_ident(SCHEMA)} to {role}",
        *(f"grant select on {qualified(SCHEMA, v)} to {role}" for v in views),
    ]
    for statement in statements:
        conn.execute(sa.text(statement))
    _set_bi_password(conn, role)
    return True


def _set_bi_password(conn: Connection, role: str) -> None:
    """Let the role log in when ``BATCHSCORE_BI_PASSWORD`` is set. Only a SCRAM verifier is sent, so the
    password itself never appears in a statement, a server log or pg_stat_activity."""
    password = os.environ.get(BI_PASSWORD_ENV)
    if not password:
        return
    verifier = scram_sha256_verifier(password)
    if not re.fullmatch(r"SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+", verifier):
        raise RuntimeError("could not derive a SCRAM verifier for the BI role")
    conn.exec_driver_sql(f"alter role {role} with login password '{verifier}'")  # ':' in it is no bind param


def scram_sha256_verifier(password: str, *, salt: bytes | None = None, iterations: int = 4096) -> str:
    """The verifier PostgreSQL stores for a SCRAM-SHA-256 password (RFC 5802/7677, as libpq computes it)."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def ensure_bi_views(engine: Engine, uc: UseCase) -> list[str]:
    """Every BI view (the use case's and the shared ones) and the BI role's grants; returns the view names."""
    with engine.begin() as conn:
        lock_views(conn)
        apply_global_views(conn)
        apply_usecase_views(conn, uc)
        grant_bi_access(conn)
    return [*usecase_view_names(uc).values(), *GLOBAL_VIEWS]
