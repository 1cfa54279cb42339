"""Publish: swap one score date's predictions in a single transaction, with its ledger row.

Under a per-date advisory lock the old rows of the date are deleted and the run's scores inserted, and the
run is written to ``batchscore.scoring_runs``; all of it commits together or not at all. Readers see the old
predictions until the commit and the new ones after it, never a mixture.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.db import run_script
from pipeline.sqlfiles import load_sql, qualified, quote_ident
from pipeline.staging import StagingTables, drop_staging, staging_tables
from pipeline.usecase import UseCase

log = logging.getLogger(__name__)

PUBLISH_LOCK_KEY = 7_146_003
PREDICTIONS_SCHEMA = "batchscore"


class PublishError(RuntimeError):
    """The run's scores do not match its batch; nothing was published."""


def predictions_table(uc: UseCase) -> str:
    """Quoted, qualified name of the use case's predictions table."""
    return qualified(PREDICTIONS_SCHEMA, uc.predictions_table)


def ensure_predictions_table(conn: Connection, uc: UseCase) -> None:
    """Create the use case's predictions table and its indexes when missing (idempotent)."""
    run_script(
        conn,
        load_sql(
            "tables/predictions.sql",
            predictions=predictions_table(uc),
            predictions_entity_index=quote_ident(f"{uc.predictions_table}_entity_date"[:63]),
        ),
    )


def lock_score_date(conn: Connection, uc: UseCase, score_date: dt.date) -> None:
    """Take the per-(use case, date) advisory lock until the transaction ends."""
    conn.execute(
        sa.text("select pg_advisory_xact_lock(:k, hashtext(:key))"),
        {"k": PUBLISH_LOCK_KEY, "key": f"{uc.name}/{score_date.isoformat()}"},
    )


def record_run(conn: Connection, uc: UseCase, score_date: dt.date, run_id: str, *, status: str,
               reason: str | None = None, model_version: str | None = None, model_sha256: str | None = None,
               rows_in: int | None = None, rows_out: int | None = None, validation_status: str | None = None,
               timings: dict[str, Any] | None = None, started_at: dt.datetime | None = None) -> None:
    """Append one row to the scoring-run ledger on ``conn`` (inside the caller's transaction)."""
    conn.execute(
        sa.text(load_sql("tables/scoring_run_insert.sql")),
        {
            "use_case": uc.name, "score_date": score_date, "run_id": run_id, "status": status,
            "reason": reason, "model_version": model_version, "model_sha256": model_sha256,
            "predictions_table": f"{PREDICTIONS_SCHEMA}.{uc.predictions_table}", "rows_in": rows_in,
            "rows_out": rows_out, "validation_status": validation_status,
            "timings": json.dumps(timings or {}), "started_at": started_at,
        },
    )


def publish_predictions(
    engine: Engine,
    uc: UseCase,
    score_date: dt.date,
    run_id: str,
    *,
    rows_in: int,
    model_version: str,
    model_sha256: str,
    threshold: float,
    validation_status: str,
    timings: dict[str, float],
    started_at: dt.datetime | None = None,
    shadow_version: str | None = None,
    shadow_threshold: float | None = None,
    shards: int = 1,
) -> dict[str, Any]:
    """Atomically replace the date's predictions with the run's scores and record the run; with a
    ``shadow_version``, replace that version's shadow scores of the date in the same transaction.
    With ``shards`` > 1 the scores of all shards are published together, in that one transaction.

    Fails without changing anything when the scores are not exactly one per batch row.
    """
    started = time.perf_counter()
    tables = staging_tables(uc.name, score_date, run_id)
    target = predictions_table(uc)
    scores = scores_relation(tables, shards)
    # DDL in its own short transaction: CREATE INDEX IF NOT EXISTS takes a SHARE lock on the table even when
    # the index exists, and held into the publish transaction it deadlocked two runs of one date (each waits
    # for the other: one on the advisory lock, the other for ROW EXCLUSIVE to delete)
    with engine.begin() as conn:
        ensure_predictions_table(conn, uc)
    with engine.begin() as conn:
        lock_score_date(conn, uc, score_date)
        scored, distinct = conn.execute(
            sa.text(f"select count(*), count(distinct entity_id) from {scores}")  # noqa: S608
        ).one()
        if scored != rows_in or distinct != scored:
            raise PublishError(
                f"{uc.name} {score_date}: {scored} scores for {distinct} entities, batch had {rows_in} rows; "
                "nothing published"
            )
        replaced = conn.execute(
            sa.text(f"delete from {target} where score_date = :d"), {"d": score_date}  # noqa: S608
        ).rowcount
        inserted = conn.execute(
            sa.text(load_sql("queries/publish_predictions.sql", predictions=target, scores=scores)),
            {"score_date": score_date, "threshold": threshold, "model_version": model_version, "run_id": run_id},
        ).rowcount
        if shadow_version:
            _publish_shadow(conn, uc, score_date, run_id, tables.shadow, shadow_version, shadow_threshold, rows_in)
        publish_seconds = round(time.perf_counter() - started, 3)
        record_run(
            conn, uc, score_date, run_id, status="succeeded", model_version=model_version,
            model_sha256=model_sha256, rows_in=rows_in, rows_out=inserted,
            validation_status=validation_status, timings={**timings, "publish": publish_seconds},
            started_at=started_at,
        )
    drop_staging(engine, tables)
    log.info("published %d predictions for %s into %s (replaced %d)", inserted, score_date, target, replaced)
    return {"rows": inserted, "replaced": replaced, "table": target, "seconds": publish_seconds}


def scores_relation(tables: StagingTables, shards: int) -> str:
    """The run's scores as one relation: its scores table, or all shard tables as one (``union all``)."""
    if shards == 1:
        return tables.scores
    parts = " union all ".join(
        f"select entity_id, score, predicted_label from {tables.shard_scores(i, shards)}"  # noqa: S608
        for i in range(shards)
    )
    return f"({parts}) as scores"


def shadow_table(uc: UseCase) -> str:
    """Quoted, qualified name of the use case's shadow predictions table."""
    return qualified(PREDICTIONS_SCHEMA, uc.shadow_table)


def _publish_shadow(conn: Connection, uc: UseCase, score_date: dt.date, run_id: str, staged: str, version: str,
                    threshold: float | None, rows_in: int) -> None:
    target = shadow_table(uc)
    run_script(conn, load_sql("tables/shadow_predictions.sql", shadow=target))
    scored = conn.execute(sa.text(f"select count(*) from {staged}")).scalar_one()  # noqa: S608
    if scored != rows_in:
        raise PublishError(
            f"{uc.name} {score_date}: {scored} shadow scores for {rows_in} batch rows; nothing published"
        )
    conn.execute(sa.text(f"delete from {target} where score_date = :d and model_version = :v"),  # noqa: S608
                 {"d": score_date, "v": version})
    conn.execute(sa.text(load_sql("queries/publish_shadow.sql", shadow=target, scores=staged)),
                 {"score_date": score_date, "threshold": threshold, "model_version": version, "run_id": run_id})


def record_unpublished_run(engine: Engine, uc: UseCase, score_date: dt.date, run_id: str, *,
                           status: str, reason: str, **details: Any) -> None:
    """Ledger row for a run that stopped before publishing (``rejected`` by validation, or ``failed``)."""
    with engine.begin() as conn:
        record_run(conn, uc, score_date, run_id, status=status, reason=reason[:2000], **details)
