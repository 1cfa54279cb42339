"""The scoring-run ledger, ``batchscore.scoring_runs``: one row per finished scoring attempt of a date.

The only module that writes the table; the rest of the package reads it through the functions here.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.config.usecase import UseCase
from pipeline.db.locks import Lock, advisory_lock
from pipeline.db.predictions import ledger_table_name, predictions_table
from pipeline.db.sql import load_sql
from pipeline.errors import PipelineStateError

#: statuses of a ledger row
SUCCEEDED, REJECTED, FAILED, SUPERSEDED = "succeeded", "rejected", "failed", "superseded"


class NothingPublishedError(PipelineStateError):
    """The date has no published run (nothing to monitor or report)."""


def record_run(
    conn: Connection,
    uc: UseCase,
    score_date: dt.date,
    run_id: str,
    *,
    status: str,
    reason: str | None = None,
    model_version: str | None = None,
    model_sha256: str | None = None,
    rows_in: int | None = None,
    rows_out: int | None = None,
    validation_status: str | None = None,
    timings: dict[str, Any] | None = None,
    started_at: dt.datetime | None = None,
) -> None:
    """Append one row (the next attempt of the run id) to the ledger on ``conn``, inside the caller's transaction,
    which holds the date's :attr:`~pipeline.db.locks.Lock.PUBLISH_DATE` lock. A success supersedes an earlier
    success of the same run id: the ledger keeps one ``succeeded`` row per published run."""
    conn.execute(
        sa.text(load_sql("ledger/insert_scoring_run.sql")),
        {
            "use_case": uc.name,
            "score_date": score_date,
            "run_id": run_id,
            "status": status,
            "reason": reason,
            "model_version": model_version,
            "model_sha256": model_sha256,
            "predictions_table": ledger_table_name(uc),
            "rows_in": rows_in,
            "rows_out": rows_out,
            "validation_status": validation_status,
            "timings": json.dumps(timings or {}),
            "started_at": started_at,
        },
    )


def record_unpublished_run(
    engine: Engine, uc: UseCase, score_date: dt.date, run_id: str, *, status: str, reason: str, **details: Any
) -> None:
    """Ledger row for a run that stopped before publishing (``rejected`` by validation, or ``failed``)."""
    with engine.begin() as conn:
        lock_date(conn, uc, score_date)
        record_run(conn, uc, score_date, run_id, status=status, reason=reason[:2000], **details)


def lock_date(conn: Connection, uc: UseCase, score_date: dt.date) -> None:
    """The date's advisory lock, until the transaction ends: publishing it, or numbering its ledger rows."""
    advisory_lock(conn, Lock.PUBLISH_DATE, f"{uc.name}/{score_date.isoformat()}")


def published_run(engine: Engine, uc: UseCase, score_date: dt.date) -> dict[str, Any]:
    """The run whose predictions are published for the date (the latest that succeeded)."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "select run_id, model_version from batchscore.scoring_runs "
                "where use_case = :u and score_date = :d and status = 'succeeded' "
                "order by finished_at desc, id desc limit 1"
            ),
            {"u": uc.name, "d": score_date},
        ).one_or_none()
    if row is None:
        raise NothingPublishedError(f"{uc.name} {score_date}: no published run to monitor (score the date first)")
    return {"run_id": row.run_id, "model_version": row.model_version}


def trailing_row_counts(engine: Engine, uc: UseCase, score_date: dt.date, window_days: int) -> tuple[int, ...]:
    """Volumes of the dates published in the ``window_days`` before ``score_date`` (latest run of each)."""
    with engine.connect() as conn:
        counts = (
            conn.execute(
                sa.text(load_sql("ledger/trailing_row_counts.sql")),
                {"use_case": uc.name, "score_date": score_date, "window_days": window_days},
            )
            .scalars()
            .all()
        )
    return tuple(int(n) for n in counts)


def last_failure_reason(engine: Engine, run_id: str, use_case: str | None = None) -> str | None:
    """Why a run id (of ``use_case``: the DAGs of two use cases give their runs of one date the same run id)
    last stopped without publishing (None when it never did)."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "select reason from batchscore.scoring_runs where run_id = :r and status <> 'succeeded' "
                "and (cast(:u as text) is null or use_case = :u) order by id desc limit 1"
            ),
            {"r": run_id, "u": use_case},
        ).scalar()


def night_summary(engine: Engine, uc: UseCase, run_id: str) -> dict[str, Any]:
    """What one run published, from the ledger and the predictions table (the demo's table row)."""
    query = load_sql("ledger/night_summary.sql", predictions=predictions_table(uc))
    with engine.connect() as conn:
        row = conn.execute(sa.text(query), {"r": run_id, "u": uc.name}).one_or_none()
        if row is None:
            return {}
        summary = {**row._mapping, "flagged_share": None}
        if uc.target.kind == "binary" and row.status == SUCCEEDED:
            summary["flagged_share"] = conn.execute(
                sa.text(load_sql("ledger/flagged_share.sql", predictions=predictions_table(uc))),
                {"score_date": row.score_date, "r": run_id},
            ).scalar()
    return summary
