"""The BI contract: the views in ``sql/bi/views`` and the read-only role that may select them (and nothing else).

Views are re-created from their files (``create or replace``) after every migration and, for the views over
a use case's predictions table, after every nightly run; so a view is changed by editing its file. The role
``batchscore_bi`` (created by migration 0005) gets USAGE on the schema and SELECT on the ``v_*`` views only;
every other privilege on the schema's tables is revoked each time, so a table never leaks to it. Callers hold
:attr:`~pipeline.db.locks.Lock.BI_VIEWS` (concurrent view or grant changes fail with "tuple concurrently updated").
"""

from __future__ import annotations

import hashlib
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


def global_views() -> list[tuple[str, str]]:
    """(quoted name, CREATE OR REPLACE statement) of the views over the monitoring tables (every use case's)."""
    return [(table(view), load_sql(f"bi/views/{view}.sql")) for view in GLOBAL_VIEWS]


def usecase_view_file(view: str, kind: str) -> str:
    """The file of a use case's view for its task kind: ``bi/views/v_<view>_<kind>.sql`` (the kinds' tables
    have different columns, so each kind has its own file; the columns they share come first, in one order)."""
    return f"bi/views/v_{view}_{kind}.sql"


def usecase_views(uc: UseCase) -> list[tuple[str, str]]:
    """(quoted name, CREATE OR REPLACE statement) of the use case's views over its predictions table, for its
    task kind."""
    return [
        (
            table(name),
            load_sql(
                usecase_view_file(view, uc.target.kind),
                view=table(name),
                predictions=table(uc.output.predictions_table),
                use_case=quote_name_literal(uc.name),
            ),
        )
        for view, name in usecase_view_names(uc).items()
    ]


def _fingerprint(statement: str) -> str:
    return f"batchscore view {hashlib.sha256(statement.encode()).hexdigest()[:16]}"


def stale_views(conn: Connection, views: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The views that are missing or were created from another text than their file's (read-only: each view
    carries the fingerprint of its statement as its comment)."""
    stale = []
    for name, statement in views:
        comment = conn.execute(sa.text("select obj_description(to_regclass(:v), 'pg_class')"), {"v": name}).scalar()
        if comment != _fingerprint(statement):
            stale.append((name, statement))
    return stale


#: ``create or replace view`` refuses a view whose columns are renamed, reordered or dropped (invalid_table_definition)
CHANGED_COLUMNS_SQLSTATE = "42P16"


def apply_views(conn: Connection, views: list[tuple[str, str]]) -> None:
    """``create or replace`` the views and record their fingerprint (the caller holds the BI-views lock and a short
    lock timeout: replacing a view waits for its readers). A view whose columns changed (a new version of its
    file, or a use case whose task kind changed) is dropped and created in the same transaction: readers see
    the old view or the new one. A view of someone else's that depends on it makes the drop fail, naming it."""
    for name, statement in views:
        savepoint = conn.begin_nested()
        try:
            run_script(conn, statement)
        except sa.exc.DBAPIError as exc:
            savepoint.rollback()
            if getattr(exc.orig, "pgcode", None) != CHANGED_COLUMNS_SQLSTATE:
                raise
            log.info("the columns of %s changed: dropping and re-creating it", name)
            conn.execute(sa.text(f"drop view if exists {name}"))
            run_script(conn, statement)
        else:
            savepoint.commit()
        conn.execute(sa.text(f"comment on view {name} is :c"), {"c": _fingerprint(statement)})


def apply_usecase_view_files(conn: Connection, uc: UseCase) -> None:
    """``create or replace`` the use case's views over its current predictions table (a conversion re-points them)."""
    apply_views(conn, usecase_views(uc))


def grants_needed(conn: Connection) -> bool:
    """Whether the BI role's privileges differ from SELECT on the ``v_*`` views, USAGE on the schema and nothing
    else, or ``BATCHSCORE_BI_PASSWORD`` is set while the role cannot log in yet (read-only); False when the role
    does not exist. (A changed password is applied by ``batchscore db migrate``.)"""
    if conn.execute(sa.text(load_sql("bi/grants_needed.sql")), {"r": BI_ROLE, "s": SCHEMA}).scalar():
        return True
    if load_settings().bi_password is None:
        return False
    can_login = conn.execute(sa.text("select rolcanlogin from pg_roles where rolname = :r"), {"r": BI_ROLE}).scalar()
    return can_login is False


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
