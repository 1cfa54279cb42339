"""Extract: materialise the batch of one score date into a run-scoped staging table, inside Postgres."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.queries import batch_query
from pipeline.staging import StagingTables, drop_staging, staging_tables
from pipeline.usecase import UseCase

log = logging.getLogger(__name__)


def extract_batch(engine: Engine, uc: UseCase, score_date: dt.date, run_id: str) -> dict[str, Any]:
    """Run the use case's batch query for ``score_date`` into a fresh staging table.

    Idempotent: a retry drops what an earlier attempt of the same run left and starts again. Returns a
    small dict for XCom (table name, row count, seconds).
    """
    started = time.perf_counter()
    tables: StagingTables = staging_tables(uc.name, score_date, run_id)
    drop_staging(engine, tables)
    with engine.begin() as conn:
        # unlogged: working data that publish copies into the (logged) predictions table
        conn.execute(
            # the query text comes from the use case's SQL file, the table name from staging_tables()
            sa.text(f"create unlogged table {tables.batch} as select * from (\n{batch_query(uc)}\n) as batch"),  # noqa: S608
            {"date_from": score_date, "date_to": score_date},
        )
        rows = int(conn.execute(sa.text(f"select count(*) from {tables.batch}")).scalar_one())  # noqa: S608
        conn.execute(sa.text(f"analyze {tables.batch}"))
    seconds = time.perf_counter() - started
    log.info("extracted %d rows for %s into %s in %.2fs", rows, score_date, tables.batch, seconds)
    return {"batch_table": tables.batch, "rows": rows, "seconds": round(seconds, 3)}
