"""The BI contract: the views in ``sql/bi/views`` and the read-only role that may select them (and nothing else).

Views are re-created from their files (``create or replace``) after every migration and, for the views over
a use case's predictions table, after every nightly run; so a view is changed by editing its file. The role
``batchscore_bi`` (created by migration 0005) gets USAGE on the schema and SELECT on the ``v_*`` views only;
every other privilege on the schema's tables is revoked each time, so a table never leaks to it. Callers hold
:attr:`~pipeline.db.locks.Lock.BI_VIEWS` (concurrent view or grant changes fail with "tuple concurrently updated").
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipeline.config.identifiers import check_identifier
from pipeline.config.settings import load_settings
from pipeline.config.usecase import USECASE_VIEWS, UseCase
from pipeline.db.engine import run_script
from pipeline.db.schema import SCHEMA, table
from pipeline.db.sql import load_sql, quote_ident
from pipeline.errors import BatchscoreError

log = logging.getLogger(__name__)

BI_ROLE = "batchscore_bi"
GLOBAL_VIEWS = ("v_drift", "v_model_performance", "v_promotions")


def quote_name_literal(name: str) -> str:
    """A validated identifier-shaped name (a use case) as a SQL string literal, for view definitions,
    which cannot take bind parameters."""
    check_identifier(name, what="use-case name")  # raises unless [a-z_][a-z0-9_]*: no quote can get in
    return f"'{name}'"


def usecase_view_names(uc: UseCase) -> dict[str, str]:
    """``latest_predictions`` / ``daily_summary`` -> the use case's view name (e.g. ``v_latest_predictions``)."""
    return {view: f"{uc.views_prefix}{view}" for view in USECASE_VIEWS}


def apply_global_views(conn: Connection) -> None:
    """(Re)create the views over the monitoring tables, which exist for every use case."""
    for view in GLOBAL_VIEWS:
        run_script(conn, load_sql(f"bi/views/{view}.sql"))


def apply_usecase_view_files(conn: Connection, uc: UseCase) -> None:
    """``create or replace`` the use case's views from their files, over its current predictions table."""
    for view, name in usecase_view_names(uc).items():
        run_script(
            conn,
            load_sql(
                f"bi/views/v_{view}.sql",
                view=table(name),
                predictions=table(uc.output.predictions_table),
                use_case=quote_name_literal(uc.name),
            ),
        )


def grant_bi_access(conn: Connection) -> bool:
    """SELECT on every ``batchscore.v_*`` view for the BI role and nothing else; False when the role is absent."""
    role = quote_ident(BI_ROLE, what="role name")
    exists = conn.execute(sa.text("select exists (select from pg_roles where rolname = :r)"), {"r": BI_ROLE})
    if not exists.scalar_one():
        log.warning("role %s does not exist (created by a migration run with CREATEROLE)", BI_ROLE)
        return False
    views = (
        conn.execute(
            sa.text(
                "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = :s and c.relkind = 'v' and c.relname like 'v\\_%' order by 1"
            ),
            {"s": SCHEMA},
        )
        .scalars()
        .all()
    )
    statements = [
        f"revoke all on all tables in schema {quote_ident(SCHEMA)} from {role}",
        f"revoke all on all sequences in schema {quote_ident(SCHEMA)} from {role}",
        f"revoke create on schema {quote_ident(SCHEMA)} from {role}",
        f"grant usage on schema {quote_ident(SCHEMA)} to {role}",
        *(f"grant select on {table(v)} to {role}" for v in views),
    ]
    for statement in statements:
        conn.execute(sa.text(statement))
    _set_bi_password(conn)
    return True


def _set_bi_password(conn: Connection) -> None:
    """Let the role log in when ``BATCHSCORE_BI_PASSWORD`` is set. libpq computes the SCRAM-SHA-256 verifier
    client-side, so the password itself never appears in a statement, a server log or pg_stat_activity."""
    secret = load_settings().bi_password
    if secret is not None:
        set_login_password(conn, BI_ROLE, secret.get_secret_value())


def set_login_password(conn: Connection, role: str, password: str) -> None:
    """``ALTER ROLE ... LOGIN PASSWORD`` with the SCRAM-SHA-256 verifier libpq computes from ``password``."""
    from psycopg2.extensions import encrypt_password

    verifier = encrypt_password(password, role, conn.connection.dbapi_connection, "scram-sha-256")
    if not verifier.startswith("SCRAM-SHA-256$"):
        raise BatchscoreError(f"libpq did not return a SCRAM verifier for the role {role}")
    conn.execute(
        sa.text(f"alter role {quote_ident(role, what='role name')} with login password :verifier"),
        {"verifier": verifier},
    )
