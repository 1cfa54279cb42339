"""Extract: materialise the batch of one score date into a run-scoped staging table, inside Postgres."""

from __future__ import annotations

import datetime as dt
import logging
import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.config.settings import load_settings
from pipeline.config.usecase import UseCase
from pipeline.contracts import Batch
from pipeline.db.ledger import REJECTED, record_unpublished_run
from pipeline.db.queries import batch_query, explain_query_error, freshness_body, freshness_probe
from pipeline.db.staging import StagingTables, drop_staging, register_run, staging_tables, vacuum_staging
from pipeline.validation.checks import ValidationFailed

log = logging.getLogger(__name__)


# SQLSTATEs of a query that names a column or table the source no longer has
SOURCE_SCHEMA_ERRORS = {"42703": "undefined column", "42P01": "undefined table"}


def extract_batch(engine: Engine, uc: UseCase, score_date: dt.date, run_id: str) -> Batch:
    """Run the use case's batch query for ``score_date`` into a fresh staging table (and, when declared, its
    freshness probe into another).

    Idempotent: a retry drops what an earlier attempt of the same run left and starts again. Returns a
    small dict for XCom (table name, row count, seconds). A source whose schema no longer fits the query is
    rejected like bad data (:class:`~pipeline.validation.gate.ValidationFailed`, ledger status ``rejected``).
    """
    started_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    tables: StagingTables = staging_tables(uc.name, score_date, run_id)
    drop_staging(engine, tables)
    register_run(engine, tables.key, use_case=uc.name, score_date=score_date, run_id=run_id, kind="score")
    abandoned = vacuum_staging(engine, dt.timedelta(hours=load_settings().staging_max_age_hours), keep=tables.key)
    if abandoned:
        log.warning("dropped %d staging tables of runs that died: %s", len(abandoned), ", ".join(abandoned[:5]))
    try:
        rows = _materialise(engine, uc, score_date, tables)
    except sa.exc.DBAPIError as exc:
        reason = _rejection(exc, uc, score_date, tables)
        if reason is None:
            raise
        record_unpublished_run(
            engine, uc, score_date, run_id, status=REJECTED, reason=reason, validation_status="failed"
        )
        drop_staging(engine, tables)  # nothing more to do with this run's tables: the reason is in the ledger
        raise ValidationFailed(reason) from None
    seconds = time.perf_counter() - started
    log.info("extracted %d rows for %s into %s in %.2fs", rows, score_date, tables.batch, seconds)
    return Batch(
        batch_table=tables.batch,
        rows=rows,
        seconds=round(seconds, 3),
        score_date=score_date.isoformat(),
        run_id=run_id,
        use_case=uc.name,
        usecase_ref=uc.ref,
        started_at=started_at.isoformat(),
    )


def _batch_statement(uc: UseCase, table: str) -> str:
    # unlogged: working data that publish copies into the (logged) predictions table; the query text comes from the
    # use case's SQL files, the table name from staging_tables()
    return f"create unlogged table {table} as select * from (\n{batch_query(uc)}\n) as batch"  # noqa: S608


def _rejection(exc: sa.exc.DBAPIError, uc: UseCase, score_date: dt.date, tables: StagingTables) -> str | None:
    """The one-line reason for a batch or freshness query the source or the declaration broke; None otherwise."""
    code = getattr(exc.orig, "pgcode", None)
    failing = "freshness" if "freshness" in str(exc.statement or "") and uc.validation.freshness else "batch"
    if failing == "batch":
        where = dict(
            what="batch query",
            key="sql.batch",
            relative_path=uc.sql.batch,
            statement=_batch_statement(uc, tables.batch),
            query=batch_query(uc),
            file_text=uc.query("batch"),
        )
    else:
        where = dict(
            what="freshness query",
            key="validation.freshness",
            relative_path=str(uc.validation.freshness),
            statement=freshness_probe(uc, tables.freshness),
            query=freshness_body(uc),
            file_text=uc.query("freshness"),
        )
    problem = explain_query_error(exc, **where)
    if problem is None:
        return None
    day = score_date.isoformat()
    if code in SOURCE_SCHEMA_ERRORS:  # a column or table the source no longer has
        return (
            f"validation failed for {day}: the source no longer fits the {problem.what} "
            f"({SOURCE_SCHEMA_ERRORS[code]}: {problem.message}; {problem.where})"
        )
    return f"validation failed for {day}: {problem.line()}"


def _materialise(engine: Engine, uc: UseCase, score_date: dt.date, tables: StagingTables) -> int:
    with engine.begin() as conn:
        created = conn.execute(
            sa.text(_batch_statement(uc, tables.batch)), {"date_from": score_date, "date_to": score_date}
        )
        rows = created.rowcount  # the command tag's count ("SELECT n"): no second pass over the batch
        if rows is None or rows < 0:
            rows = int(conn.execute(sa.text(f"select count(*) from {tables.batch}")).scalar_one())  # noqa: S608
        conn.execute(sa.text(f"analyze {tables.batch}"))
        if uc.validation.freshness is not None:
            conn.execute(sa.text(freshness_probe(uc, tables.freshness)), {"score_date": score_date})
    return rows
