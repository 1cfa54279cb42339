"""Publish: swap one score date's predictions in a single transaction, with its ledger row.

The predictions table is list-partitioned by score date. Score writes a run's predictions into a staged table
shaped like a partition (:func:`create_staged_predictions`); publish seals it (drops the run's defaults, builds
the key on the whole date) outside any lock, then, in one short transaction under a per-date advisory lock,
writes the ledger row, detaches and drops the date's old partition and attaches the new one: catalog changes,
not a million-row delete and insert into an indexed table. Readers see the old predictions until the commit
and the new ones after it, never a mixture; a failure at any point leaves the old partition in place.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.config.settings import load_settings
from pipeline.config.usecase import UseCase
from pipeline.contracts import Published
from pipeline.db.ddl import lock_holders
from pipeline.db.engine import run_script
from pipeline.db.ledger import SUCCEEDED, lock_date, record_run
from pipeline.db.predictions import (
    PublishError,
    ensure_predictions_table,
    ensure_shadow_table,
    partition,
    partition_name,
    prediction_columns,
    predictions_table,
    shadow_table,
)
from pipeline.db.schema import SCHEMA, table
from pipeline.db.sql import load_sql, quote_ident
from pipeline.db.staging import StagingTables, drop_staging, staging_tables
from pipeline.errors import TransientError

log = logging.getLogger(__name__)

SWAP_LOCK_TIMEOUT = "2s"  # the longest one swap attempt makes readers of the predictions table queue behind it
LOCK_NOT_AVAILABLE = "55P03"


class PublishLockTimeout(PublishError, TransientError):
    """Readers kept the predictions table busy for longer than publish may wait; nothing was published."""


def publish_predictions(
    engine: Engine,
    uc: UseCase,
    score_date: dt.date,
    run_id: str,
    *,
    rows_in: int,
    model_version: str,
    model_sha256: str,
    validation_status: str,
    timings: dict[str, float],
    started_at: dt.datetime | None = None,
    shadow_version: str | None = None,
    shards: int = 1,
) -> Published:
    """Atomically replace the date's predictions with the run's staged predictions and record the run; with a
    ``shadow_version``, replace that version's shadow scores of the date in the same transaction.
    With ``shards`` > 1 the staged predictions of all shards are combined first and published together.

    Fails without changing anything when the scores are not exactly one per batch row.
    """
    started = time.perf_counter()
    tables = staging_tables(uc.name, score_date, run_id)
    target = predictions_table(uc)
    # DDL in its own short transaction: never hold a lock on the predictions table while waiting for the
    # date's advisory lock (two runs of one date deadlocked that way)
    with engine.begin() as conn:
        ensure_predictions_table(conn, uc)
        already = _published_by(conn, uc, score_date, run_id, tables, shards)
    if already is not None:
        # a retry of a publish whose commit went through but whose task died before reporting it
        drop_staging(engine, tables)
        log.info("%s %s: run %s already published %d predictions; nothing to do", uc.name, score_date, run_id, already)
        return Published(rows=already, replaced=0, table=target, seconds=round(time.perf_counter() - started, 3))
    staged = seal_staged_predictions(engine, uc, score_date, tables, shards, rows_in)
    budget = load_settings().publish_lock_wait_s
    deadline, attempt = time.monotonic() + budget, 0
    while True:
        attempt += 1
        try:
            with engine.begin() as conn:
                replaced = _swap_partition(
                    conn,
                    uc,
                    score_date,
                    run_id,
                    tables,
                    staged,
                    shards,
                    ledger={
                        "model_version": model_version,
                        "model_sha256": model_sha256,
                        "rows_in": rows_in,
                        "rows_out": rows_in,
                        "validation_status": validation_status,
                        "started_at": started_at,
                        "timings": {**timings, "publish": round(time.perf_counter() - started, 3)},
                    },
                    shadow=shadow_version,
                )
            break
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "pgcode", None) != LOCK_NOT_AVAILABLE:
                raise
            holders = lock_holders(engine, target)
            if time.monotonic() >= deadline:
                raise PublishLockTimeout(
                    f"{uc.name} {score_date}: could not swap the date's partition of {target} in {budget} s "
                    f"({attempt} tries): {holders or 'other sessions'} kept the table busy; the date's "
                    f"predictions are unchanged (BATCHSCORE_PUBLISH_LOCK_WAIT sets the wait)"
                ) from None
            pause = min(0.5 * 2 ** (attempt - 1), 15.0, max(deadline - time.monotonic(), 0.1))
            log.warning(
                "%s %s: the partition swap waited %s for %s; trying again in %.1f s",
                uc.name,
                score_date,
                SWAP_LOCK_TIMEOUT,
                holders or "other sessions",
                pause,
            )
            time.sleep(pause)
    drop_staging(engine, tables)
    log.info("published %d predictions for %s into %s (replaced %d)", rows_in, score_date, target, replaced)
    return Published(rows=rows_in, replaced=replaced, table=target, seconds=round(time.perf_counter() - started, 3))


def _swap_partition(
    conn: Connection,
    uc: UseCase,
    score_date: dt.date,
    run_id: str,
    tables: StagingTables,
    staged: str,
    shards: int,
    *,
    ledger: dict[str, Any],
    shadow: str | None,
) -> int:
    """One attempt at publish's transaction: ledger row, shadow scores, the date's old partition out and the
    sealed staged table in; returns the rows replaced. Lock waits on the predictions table end after
    ``SWAP_LOCK_TIMEOUT`` (the caller rolls back and tries again), so a reader that holds the table for long,
    such as a BI session idle in a transaction, never makes the other readers queue behind publish for long."""
    target = predictions_table(uc)
    name = partition_name(uc, score_date)
    date_partition = partition(uc, score_date)
    lock_date(conn, uc, score_date)  # a run of the same date waits here
    conn.execute(sa.text("select set_config('lock_timeout', :t, true)"), {"t": SWAP_LOCK_TIMEOUT})
    if shadow:
        _publish_shadow(conn, uc, score_date, tables.shadow, shadow, ledger["rows_in"])
    old = conn.execute(sa.text("select to_regclass(:p) is not null"), {"p": date_partition}).scalar_one()
    replaced = conn.execute(sa.text(f"select count(*) from {date_partition}")).scalar_one() if old else 0  # noqa: S608
    # the ledger row first, the partition swap last: the swap takes the table's exclusive lock, held for
    # the few catalog statements until commit, so readers wait milliseconds, not for a ledger insert
    record_run(conn, uc, score_date, run_id, status=SUCCEEDED, **ledger)
    if old:
        run_script(conn, load_sql("predictions/detach_partition.sql", predictions=target, old=date_partition))
    conn.execute(
        sa.text(
            load_sql(
                "predictions/attach_partition.sql",
                staged=staged,
                schema=quote_ident(SCHEMA),
                moved=table(tables.names["scores"]),
                partition_name=quote_ident(name),
                predictions=target,
                partition=date_partition,
            )
        ),
        {"score_date": score_date},
    )
    if shards > 1:  # in the same transaction, so "a shard's table is left" means "not published yet"
        for i in range(shards):
            conn.execute(sa.text(f"drop table if exists {tables.shard_scores(i, shards)}"))
    return int(replaced)


def seal_staged_predictions(
    engine: Engine, uc: UseCase, score_date: dt.date, tables: StagingTables, shards: int, rows_in: int
) -> str:
    """Check the run's staged predictions (one per batch row, each entity once) and seal them into a finished
    partition (sql/predictions/seal_staged_predictions.sql), outside the publish lock; returns the quoted name.
    Combines the shards' tables first when the run has several. Raises :class:`PublishError` otherwise."""
    staged = tables.scores
    with engine.begin() as conn:
        missing = [
            t
            for t in ([tables.shard_scores(i, shards) for i in range(shards)] if shards > 1 else [staged])
            if conn.execute(sa.text("select to_regclass(:t) is null"), {"t": t}).scalar_one()
        ]
        if missing:
            raise PublishError(
                f"{uc.name} {score_date}: the run's staged scores are gone ({', '.join(missing)}); "
                "clear and re-run its score task; nothing published"
            )
        if shards > 1:
            parts = " union all ".join(
                f"select * from {tables.shard_scores(i, shards)}"  # noqa: S608
                for i in range(shards)
            )
            conn.execute(sa.text(f"drop table if exists {staged}"))
            conn.execute(
                sa.text(
                    load_sql(
                        "predictions/combine_shard_predictions.sql",
                        staged=staged,
                        first=tables.shard_scores(0, shards),
                        shards=f"({parts}) as shards",
                    )
                )
            )
        scored = conn.execute(sa.text(f"select count(*) from {staged}")).scalar_one()  # noqa: S608
    try:
        with engine.begin() as conn:
            if scored != rows_in:
                raise PublishError(
                    f"{uc.name} {score_date}: {scored} scores for a batch of {rows_in} rows; nothing published"
                )
            # a zombie attempt and its retry must not both find the table unsealed
            conn.execute(sa.text(f"lock table {staged} in access exclusive mode"))
            sealed = conn.execute(
                sa.text("select exists (select from pg_index where indrelid = to_regclass(:t) and indisprimary)"),
                {"t": staged},
            ).scalar_one()
            if not sealed:  # a retried publish finds the table it sealed before it died
                conn.execute(sa.text(load_sql("predictions/seal_staged_predictions.sql", staged=staged)))
                if uc.target.kind == "binary":
                    conn.execute(sa.text(load_sql("predictions/seal_staged_threshold.sql", staged=staged)))
    except sa.exc.IntegrityError:
        with engine.connect() as conn:
            distinct = conn.execute(sa.text(f"select count(distinct entity_id) from {staged}")).scalar_one()  # noqa: S608
        raise PublishError(
            f"{uc.name} {score_date}: {scored} scores for {distinct} entities (an entity scored "
            "twice); nothing published"
        ) from None
    return staged


def _published_by(
    conn: Connection, uc: UseCase, score_date: dt.date, run_id: str, tables: StagingTables, shards: int
) -> int | None:
    """Rows of the date's partition when ``run_id`` published it and its staged scores are gone (the publish
    committed, then its task died before reporting success); otherwise ``None``."""
    staged_left = [tables.scores, *(tables.shard_scores(i, shards) for i in range(shards) if shards > 1)]
    if any(conn.execute(sa.text("select to_regclass(:t) is not null"), {"t": t}).scalar_one() for t in staged_left):
        return None
    date_partition = partition(uc, score_date)
    if not conn.execute(sa.text("select to_regclass(:p) is not null"), {"p": date_partition}).scalar_one():
        return None
    rows, by_run = conn.execute(
        sa.text(f"select count(*), bool_and(run_id = :r) from {date_partition}"),  # noqa: S608
        {"r": run_id},
    ).one()
    return int(rows) if rows and by_run else None


def _publish_shadow(
    conn: Connection,
    uc: UseCase,
    score_date: dt.date,
    staged: str,
    version: str,
    rows_in: int,
) -> None:
    """The shadow version's scores of the date replaced by the run's staged shadow predictions (which carry the
    version, threshold and run id as column defaults)."""
    target = shadow_table(uc)
    ensure_shadow_table(conn, uc)
    scored = conn.execute(sa.text(f"select count(*) from {staged}")).scalar_one()  # noqa: S608
    if scored != rows_in:
        raise PublishError(
            f"{uc.name} {score_date}: {scored} shadow scores for {rows_in} batch rows; nothing published"
        )
    conn.execute(
        sa.text(f"delete from {target} where score_date = :d and model_version = :v"),  # noqa: S608
        {"d": score_date, "v": version},
    )
    columns = ", ".join(quote_ident(c) for c in prediction_columns(uc.target.kind))
    conn.execute(sa.text(load_sql("predictions/publish_shadow.sql", shadow=target, scores=staged, columns=columns)))
