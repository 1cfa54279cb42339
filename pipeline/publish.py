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
import hashlib
import json
import logging
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.db import run_script
from pipeline.settings import load_settings
from pipeline.sqlfiles import load_sql, qualified, quote_ident
from pipeline.staging import STAGING_SCHEMA, StagingTables, drop_staging, staging_tables
from pipeline.usecase import UseCase

log = logging.getLogger(__name__)

PUBLISH_LOCK_KEY = 7_146_003
TABLE_LOCK_KEY = 7_146_004  # creating or converting a use case's predictions table
SWAP_LOCK_TIMEOUT = "2s"  # the longest one swap attempt makes readers of the predictions table queue behind it
LOCK_NOT_AVAILABLE = "55P03"
PREDICTIONS_SCHEMA = "batchscore"


class PublishError(RuntimeError):
    """The run's scores do not match its batch; nothing was published."""


def predictions_table(uc: UseCase) -> str:
    """Quoted, qualified name of the use case's predictions table."""
    return qualified(PREDICTIONS_SCHEMA, uc.predictions_table)


def partition_name(uc: UseCase, score_date: dt.date) -> str:
    """Bare name of the date's partition: ``<predictions_table>_YYYYMMDD`` (a long table name is shortened
    and made unique with a hash, so it stays within PostgreSQL's 63 characters)."""
    suffix = f"_{score_date:%Y%m%d}"
    base = uc.predictions_table
    if len(base) + len(suffix) > 63:
        digest = hashlib.sha256(base.encode()).hexdigest()[:6]
        base = f"{base[:63 - len(suffix) - 7]}_{digest}"
    return base + suffix


def ensure_predictions_table(conn: Connection, uc: UseCase) -> None:
    """Create the use case's partitioned predictions table when missing; convert one made before partitioning
    (same rows, one partition per date, the use case's views re-pointed) in the caller's transaction.

    Every shard's score task calls this at once: creating or converting happens under a per-use-case
    advisory lock, and the table's kind is read again under it (another task may just have done the work).
    """
    target = predictions_table(uc)

    def kind() -> str | None:
        return conn.execute(
            sa.text("select relkind from pg_class where oid = to_regclass(:t)"), {"t": target}
        ).scalar()

    if kind() == "p":
        return
    conn.execute(sa.text("select pg_advisory_xact_lock(:k, hashtext(:key))"),
                 {"k": TABLE_LOCK_KEY, "key": uc.name})
    found = kind()
    if found == "p":
        return
    if found == "r":
        convert_to_partitioned(conn, uc)
        return
    run_script(conn, load_sql("tables/predictions.sql", predictions=target))


def convert_to_partitioned(conn: Connection, uc: UseCase) -> None:
    """Move an unpartitioned predictions table (made by an earlier version) into a partitioned one."""
    from pipeline.views import apply_usecase_view_files, lock_views

    target = predictions_table(uc)
    old = qualified(STAGING_SCHEMA, uc.predictions_table)
    lock_views(conn)
    conn.execute(sa.text(f"lock table {target} in access exclusive mode"))
    conn.execute(sa.text(f"alter table {target} set schema {quote_ident(STAGING_SCHEMA)}"))
    run_script(conn, load_sql("tables/predictions.sql", predictions=target))
    dates = conn.execute(sa.text(f"select distinct score_date from {old} order by 1")).scalars().all()  # noqa: S608
    for day in dates:
        partition = qualified(PREDICTIONS_SCHEMA, partition_name(uc, day))
        conn.execute(sa.text(load_sql("tables/create_partition.sql", predictions=target, partition=partition)),
                     {"score_date": day})
    moved = conn.execute(
        sa.text(load_sql("tables/copy_unpartitioned_predictions.sql", predictions=target, old=old))
    ).rowcount
    apply_usecase_view_files(conn, uc)  # the views followed the old table: point them at the new one
    try:
        conn.execute(sa.text(f"drop table {old}"))
    except sa.exc.DBAPIError as exc:
        detail = str(exc.orig).strip().splitlines()
        raise PublishError(
            f"{uc.name}: cannot convert {target} to a partitioned table: objects batchscore does not manage "
            f"depend on it ({' '.join(detail[:3])}); drop or re-create them on the partitioned table"
        ) from None
    log.info("converted %s to a partitioned table: %d rows in %d date partitions", target, moved, len(dates))


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


def create_staged_predictions(conn: Connection, uc: UseCase, staged: str, score_date: dt.date, *, run_id: str,
                              model_version: str, threshold: float) -> None:
    """(Re)create a run's staged predictions table ``staged`` (quoted, in the staging schema): a partition of the
    date to be, whose constant columns default to this run's values. Score fills it; publish attaches it."""
    ensure_predictions_table(conn, uc)
    conn.execute(sa.text(f"drop table if exists {staged}"))
    conn.execute(
        sa.text(load_sql("tables/staged_predictions.sql", staged=staged, predictions=predictions_table(uc))),
        {"score_date": score_date, "threshold": threshold, "model_version": model_version, "run_id": run_id},
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
    validation_status: str,
    timings: dict[str, float],
    started_at: dt.datetime | None = None,
    shadow_version: str | None = None,
    shadow_threshold: float | None = None,
    shards: int = 1,
) -> dict[str, Any]:
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
        log.info("%s %s: run %s already published %d predictions; nothing to do", uc.name, score_date, run_id,
                 already)
        return {"rows": already, "replaced": 0, "table": target, "seconds": round(time.perf_counter() - started, 3)}
    staged = seal_staged_predictions(engine, uc, score_date, tables, shards, rows_in)
    budget = load_settings().publish_lock_wait_s
    deadline, attempt = time.monotonic() + budget, 0
    while True:
        attempt += 1
        try:
            with engine.begin() as conn:
                replaced = _swap_partition(
                    conn, uc, score_date, run_id, tables, staged, shards, ledger={
                        "model_version": model_version, "model_sha256": model_sha256, "rows_in": rows_in,
                        "rows_out": rows_in, "validation_status": validation_status, "started_at": started_at,
                        "timings": {**timings, "publish": round(time.perf_counter() - started, 3)},
                    }, shadow=(shadow_version, shadow_threshold) if shadow_version else None,
                )
            break
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "pgcode", None) != LOCK_NOT_AVAILABLE:
                raise
            holders = _lock_holders(engine, target)
            if time.monotonic() >= deadline:
                raise PublishError(
                    f"{uc.name} {score_date}: could not swap the date's partition of {target} in {budget} s "
                    f"({attempt} tries): {holders or 'other sessions'} kept the table busy; the date's "
                    f"predictions are unchanged (BATCHSCORE_PUBLISH_LOCK_WAIT sets the wait)"
                ) from None
            pause = min(0.5 * 2 ** (attempt - 1), 15.0, max(deadline - time.monotonic(), 0.1))
            log.warning("%s %s: the partition swap waited %s for %s; trying again in %.1f s",
                        uc.name, score_date, SWAP_LOCK_TIMEOUT, holders or "other sessions", pause)
            time.sleep(pause)
    drop_staging(engine, tables)
    log.info("published %d predictions for %s into %s (replaced %d)", rows_in, score_date, target, replaced)
    return {"rows": rows_in, "replaced": replaced, "table": target, "seconds": round(time.perf_counter() - started, 3)}


def _swap_partition(conn: Connection, uc: UseCase, score_date: dt.date, run_id: str, tables: StagingTables,
                    staged: str, shards: int, *, ledger: dict[str, Any],
                    shadow: tuple[str, float | None] | None) -> int:
    """One attempt at publish's transaction: ledger row, shadow scores, the date's old partition out and the
    sealed staged table in; returns the rows replaced. Lock waits on the predictions table end after
    ``SWAP_LOCK_TIMEOUT`` (the caller rolls back and tries again), so a reader that holds the table for long,
    such as a BI session idle in a transaction, never makes the other readers queue behind publish for long."""
    target = predictions_table(uc)
    name = partition_name(uc, score_date)
    partition = qualified(PREDICTIONS_SCHEMA, name)
    lock_score_date(conn, uc, score_date)  # a run of the same date waits here, without a timeout
    conn.execute(sa.text("select set_config('lock_timeout', :t, true)"), {"t": SWAP_LOCK_TIMEOUT})
    if shadow:
        _publish_shadow(conn, uc, score_date, run_id, tables.shadow, shadow[0], shadow[1], ledger["rows_in"])
    old = conn.execute(sa.text("select to_regclass(:p) is not null"), {"p": partition}).scalar_one()
    replaced = conn.execute(sa.text(f"select count(*) from {partition}")).scalar_one() if old else 0  # noqa: S608
    # the ledger row first, the partition swap last: the swap takes the table's exclusive lock, held for
    # the few catalog statements until commit, so readers wait milliseconds, not for a ledger insert
    record_run(conn, uc, score_date, run_id, status="succeeded", **ledger)
    if old:
        run_script(conn, load_sql("tables/detach_partition.sql", predictions=target, old=partition))
    conn.execute(
        sa.text(load_sql("tables/attach_partition.sql", staged=staged, schema=quote_ident(PREDICTIONS_SCHEMA),
                         moved=qualified(PREDICTIONS_SCHEMA, tables.names["scores"]),
                         partition_name=quote_ident(name), predictions=target,
                         partition=partition)),
        {"score_date": score_date},
    )
    if shards > 1:  # in the same transaction, so "a shard's table is left" means "not published yet"
        for i in range(shards):
            conn.execute(sa.text(f"drop table if exists {tables.shard_scores(i, shards)}"))
    return int(replaced)


def _lock_holders(engine: Engine, table: str) -> str:
    """Who holds a lock on ``table`` now, for the log and the error: pid, state, application and age; never a
    query's text (it may quote values)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(load_sql("queries/predictions_lock_holders.sql")), {"t": table}).all()
    return ", ".join(
        f"pid {pid} ({state or 'unknown state'}{f', {app!r}' if app else ''}, transaction open {age} s)"
        for pid, state, app, age in rows[:5]
    )


def seal_staged_predictions(engine: Engine, uc: UseCase, score_date: dt.date, tables: StagingTables,
                            shards: int, rows_in: int) -> str:
    """Check the run's staged predictions (one per batch row, each entity once) and seal them into a finished
    partition (sql/tables/seal_staged_predictions.sql), outside the publish lock; returns the quoted name.
    Combines the shards' tables first when the run has several. Raises :class:`PublishError` otherwise."""
    staged = tables.scores
    with engine.begin() as conn:
        missing = [t for t in ([tables.shard_scores(i, shards) for i in range(shards)] if shards > 1 else [staged])
                   if conn.execute(sa.text("select to_regclass(:t) is null"), {"t": t}).scalar_one()]
        if missing:
            raise PublishError(f"{uc.name} {score_date}: the run's staged scores are gone ({', '.join(missing)}); "
                               "clear and re-run its score task; nothing published")
        if shards > 1:
            parts = " union all ".join(
                f"select * from {tables.shard_scores(i, shards)}" for i in range(shards)  # noqa: S608
            )
            conn.execute(sa.text(f"drop table if exists {staged}"))
            conn.execute(sa.text(load_sql("tables/combine_shard_predictions.sql", staged=staged,
                                          first=tables.shard_scores(0, shards), shards=f"({parts}) as shards")))
        scored = conn.execute(sa.text(f"select count(*) from {staged}")).scalar_one()  # noqa: S608
    try:
        with engine.begin() as conn:
            if scored != rows_in:
                raise PublishError(f"{uc.name} {score_date}: {scored} scores for a batch of {rows_in} rows; "
                                   "nothing published")
            # a zombie attempt and its retry must not both find the table unsealed
            conn.execute(sa.text(f"lock table {staged} in access exclusive mode"))
            sealed = conn.execute(
                sa.text("select exists (select from pg_index where indrelid = to_regclass(:t) and indisprimary)"),
                {"t": staged},
            ).scalar_one()
            if not sealed:  # a retried publish finds the table it sealed before it died
                conn.execute(sa.text(load_sql("tables/seal_staged_predictions.sql", staged=staged)))
    except sa.exc.IntegrityError:
        with engine.connect() as conn:
            distinct = conn.execute(sa.text(f"select count(distinct entity_id) from {staged}")).scalar_one()  # noqa: S608
        raise PublishError(f"{uc.name} {score_date}: {scored} scores for {distinct} entities (an entity scored "
                           "twice); nothing published") from None
    return staged


def _published_by(conn: Connection, uc: UseCase, score_date: dt.date, run_id: str, tables: StagingTables,
                  shards: int) -> int | None:
    """Rows of the date's partition when ``run_id`` published it and its staged scores are gone (the publish
    committed, then its task died before reporting success); otherwise ``None``."""
    staged_left = [tables.scores, *(tables.shard_scores(i, shards) for i in range(shards) if shards > 1)]
    if any(conn.execute(sa.text("select to_regclass(:t) is not null"), {"t": t}).scalar_one() for t in staged_left):
        return None
    partition = qualified(PREDICTIONS_SCHEMA, partition_name(uc, score_date))
    if not conn.execute(sa.text("select to_regclass(:p) is not null"), {"p": partition}).scalar_one():
        return None
    rows, by_run = conn.execute(
        sa.text(f"select count(*), bool_and(run_id = :r) from {partition}"), {"r": run_id}  # noqa: S608
    ).one()
    return int(rows) if rows and by_run else None


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
