"""The predictions tables of a use case: the published predictions (list-partitioned by score date) and the
shadow scores. This module owns their DDL; only :mod:`pipeline.scoring.publish` changes their rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipeline.config.usecase import UseCase
from pipeline.db import bi
from pipeline.db.engine import run_script
from pipeline.db.locks import Lock, advisory_lock
from pipeline.db.ownership import claim_output_table
from pipeline.db.schema import SCHEMA, STAGING_SCHEMA, staging, table
from pipeline.db.sql import load_sql, quote_ident
from pipeline.errors import PipelineStateError

log = logging.getLogger(__name__)


class PublishError(PipelineStateError):
    """The predictions cannot be published as asked (scores that do not match the batch, a predictions table
    that cannot be converted...); nothing was published."""


#: the columns of a predictions table beyond score_date, entity_id, score, model_version, run_id, scored_at
KIND_COLUMNS = {
    "binary": ("predicted_label", "threshold"),
    "multiclass": ("predicted_class", "class_probabilities"),
    "regression": ("prediction_lower", "prediction_upper"),
}
#: the columns score writes (the others of a staged table are the run's defaults)
STREAMED_COLUMNS = {
    "binary": ("entity_id", "score", "predicted_label"),
    "multiclass": ("entity_id", "score", "predicted_class", "class_probabilities"),
    "regression": ("entity_id", "score", "prediction_lower", "prediction_upper"),
}


def prediction_columns(kind: str) -> tuple[str, ...]:
    """Every column of a predictions table of ``kind``, in a fixed order."""
    return ("score_date", "entity_id", "model_version", "run_id", "scored_at", "score", *KIND_COLUMNS[kind])


def predictions_table(uc: UseCase) -> str:
    """Quoted, qualified name of the use case's predictions table."""
    return table(uc.output.predictions_table)


def shadow_table(uc: UseCase) -> str:
    """Quoted, qualified name of the use case's shadow predictions table."""
    return table(uc.output.shadow_table)


def scored_table(uc: UseCase, role: str) -> str:
    """The table holding a role's scores: the predictions (``champion``) or the shadow scores (``shadow``)."""
    return predictions_table(uc) if role == "champion" else shadow_table(uc)


def partition_name(uc: UseCase, score_date: dt.date) -> str:
    """Bare name of the date's partition: ``<predictions_table>_YYYYMMDD`` (a long table name is shortened
    and made unique with a hash, so it stays within PostgreSQL's 63 characters)."""
    suffix = f"_{score_date:%Y%m%d}"
    base = uc.output.predictions_table
    if len(base) + len(suffix) > 63:
        digest = hashlib.sha256(base.encode()).hexdigest()[:6]
        base = f"{base[: 63 - len(suffix) - 7]}_{digest}"
    return base + suffix


def partition(uc: UseCase, score_date: dt.date) -> str:
    """Quoted, qualified name of the date's partition."""
    return table(partition_name(uc, score_date))


def newest_partition(conn: Connection, uc: UseCase, end_date: dt.date) -> str:
    """The predictions partition of ``end_date`` when it exists, else the whole predictions table."""
    found = conn.execute(sa.text("select to_regclass(:p) is not null"), {"p": partition(uc, end_date)}).scalar_one()
    return partition(uc, end_date) if found else predictions_table(uc)


def ensure_predictions_table(conn: Connection, uc: UseCase) -> None:
    """Create the use case's partitioned predictions table when missing; convert one made before partitioning
    (same rows, one partition per date, the use case's views re-pointed) in the caller's transaction.

    Every shard's score task calls this at once: creating or converting happens under the BI-views lock and a
    per-use-case lock (in :class:`~pipeline.db.locks.Lock` order), and the table's kind is read again under them.
    """
    claim_output_table(conn, uc, "predictions")  # refused when another use case owns the table
    target = predictions_table(uc)

    def kind() -> str | None:
        return conn.execute(sa.text("select relkind from pg_class where oid = to_regclass(:t)"), {"t": target}).scalar()

    if kind() == "p":
        check_table_kind(conn, uc)
        return
    advisory_lock(conn, Lock.BI_VIEWS)  # a conversion re-points the use case's views
    advisory_lock(conn, Lock.PREDICTIONS_TABLE, uc.name)
    found = kind()
    if found == "p":
        return
    if found == "r":
        convert_to_partitioned(conn, uc)
        return
    run_script(conn, load_sql(f"predictions/predictions_{uc.target.kind}.sql", predictions=target))


def check_table_kind(conn: Connection, uc: UseCase) -> None:
    """Refuse a predictions table made for another task kind (the use case's [target] kind changed)."""
    found = set(
        conn.execute(
            sa.text("select attname from pg_attribute where attrelid = to_regclass(:t) and attnum > 0"),
            {"t": predictions_table(uc)},
        ).scalars()
    )
    missing = [c for c in prediction_columns(uc.target.kind) if c not in found]
    if found and missing:
        raise PublishError(
            f"{uc.name}: {predictions_table(uc)} was made for another kind of target (it lacks "
            f"{', '.join(missing)}); a {uc.target.kind} use case needs its own table: change [output] "
            "predictions_table"
        )


def convert_to_partitioned(conn: Connection, uc: UseCase) -> None:
    """Move an unpartitioned predictions table (made by an earlier version) into a partitioned one (the caller
    holds the BI-views and predictions-table locks)."""
    target = predictions_table(uc)
    old = staging(uc.output.predictions_table)
    conn.execute(sa.text(f"lock table {target} in access exclusive mode"))
    conn.execute(sa.text(f"alter table {target} set schema {quote_ident(STAGING_SCHEMA)}"))
    run_script(conn, load_sql("predictions/predictions_binary.sql", predictions=target))  # only binary predated
    dates = conn.execute(sa.text(f"select distinct score_date from {old} order by 1")).scalars().all()  # noqa: S608
    for day in dates:
        conn.execute(
            sa.text(load_sql("predictions/create_partition.sql", predictions=target, partition=partition(uc, day))),
            {"score_date": day},
        )
    moved = conn.execute(
        sa.text(load_sql("predictions/copy_unpartitioned_predictions.sql", predictions=target, old=old))
    ).rowcount
    bi.apply_usecase_view_files(conn, uc)  # the views followed the old table: point them at the new one
    try:
        conn.execute(sa.text(f"drop table {old}"))
    except sa.exc.DBAPIError as exc:
        detail = str(exc.orig).strip().splitlines()
        raise PublishError(
            f"{uc.name}: cannot convert {target} to a partitioned table: objects batchscore does not manage "
            f"depend on it ({' '.join(detail[:3])}); drop or re-create them on the partitioned table"
        ) from None
    log.info("converted %s to a partitioned table: %d rows in %d date partitions", target, moved, len(dates))


def create_staged_predictions(
    conn: Connection,
    uc: UseCase,
    staged: str,
    score_date: dt.date,
    *,
    run_id: str,
    model_version: str,
    threshold: float | None,
) -> None:
    """(Re)create a run's staged predictions table ``staged`` (quoted, in the staging schema): a partition of the
    date to be, whose constant columns default to this run's values. Score fills it; publish attaches it."""
    ensure_predictions_table(conn, uc)
    conn.execute(sa.text(f"drop table if exists {staged}"))
    conn.execute(
        sa.text(load_sql("predictions/staged_predictions.sql", staged=staged, predictions=predictions_table(uc))),
        {"score_date": score_date, "model_version": model_version, "run_id": run_id},
    )
    if uc.target.kind == "binary":
        conn.execute(
            sa.text(load_sql("predictions/staged_predictions_threshold.sql", staged=staged)), {"threshold": threshold}
        )


def ensure_shadow_table(conn: Connection, uc: UseCase) -> None:
    """Create the use case's shadow predictions table when missing."""
    claim_output_table(conn, uc, "shadow")  # refused when another use case owns the table
    ensure_predictions_table(conn, uc)  # the shadow table is shaped like it
    run_script(
        conn, load_sql("predictions/shadow_predictions.sql", shadow=shadow_table(uc), predictions=predictions_table(uc))
    )


def ledger_table_name(uc: UseCase) -> str:
    """How the ledger names the predictions table (``batchscore.<table>``)."""
    return f"{SCHEMA}.{uc.output.predictions_table}"
