"""Performance once labels arrive: join the labels known by now to past predictions and shadow scores.

Every night the score dates of the last ``performance_lookback_days`` are looked at. A date (per model version
and role) is recomputed only when its labels or its published run changed since the last computation (a
fingerprint of both is stored), so late labels update a date and nothing else is redone.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.config.usecase import UseCase
from pipeline.db.predictions import newest_partition, scored_table
from pipeline.db.queries import labelled_scores_query
from pipeline.db.sql import load_sql
from pipeline.model.metrics import classification_metrics
from pipeline.model.registry import holdout_average_precision

log = logging.getLogger(__name__)

ROLES = ("champion", "shadow")


@dataclass(frozen=True)
class Performance:
    """Metrics of one (score date, model version, role) from its labelled scores."""

    label_count: int
    positive_count: int
    flagged_count: int
    threshold: float
    average_precision: float | None
    roc_auc: float | None
    brier: float
    precision_at_threshold: float | None
    recall_at_threshold: float | None


def compute_performance(labels: np.ndarray, scores: np.ndarray, threshold: float) -> Performance:
    """Average precision, ROC AUC, Brier score, precision and recall at the threshold (pure; undefined: None)."""
    m = classification_metrics(labels, scores, threshold)
    return Performance(
        label_count=m["rows"],
        positive_count=m["positives"],
        flagged_count=m["flagged"],
        threshold=float(threshold),
        average_precision=m["average_precision"],
        roc_auc=m["roc_auc"],
        brier=m["brier"],
        precision_at_threshold=m["precision_at_threshold"],
        recall_at_threshold=m["recall_at_threshold"],
    )


def judge(perf: Performance, holdout_ap: float | None, uc: UseCase) -> str:
    """``insufficient`` (too few labels or positives), ``degraded`` (below the floors) or ``ok``."""
    cfg = uc.monitoring
    if perf.label_count < cfg.min_labels or perf.positive_count < cfg.min_positives:
        return "insufficient"
    if perf.roc_auc is not None and perf.roc_auc < cfg.min_roc_auc:
        return "degraded"
    if (
        holdout_ap is not None
        and perf.average_precision is not None
        and perf.average_precision < cfg.min_average_precision_ratio * holdout_ap
    ):
        return "degraded"
    return "ok"


def update_performance(
    engine: Engine, uc: UseCase, end_date: dt.date, *, as_of: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """(Re)compute the performance of every score date in the lookback window ending at ``end_date`` whose
    labels or published run changed; return the rows written (dicts, for alerting)."""
    as_of = as_of or dt.datetime.now(dt.UTC)
    date_from = end_date - dt.timedelta(days=uc.monitoring.performance_lookback_days - 1)
    window = {"date_from": date_from, "date_to": end_date, "as_of": as_of}
    with engine.connect() as conn:
        stored = {
            (r.score_date, r.model_version, r.role): r.labels_fingerprint
            for r in conn.execute(
                sa.text(
                    "select score_date, model_version, role, labels_fingerprint from batchscore.model_performance "
                    "where use_case = :u and score_date between :f and :t"
                ),
                {"u": uc.name, "f": date_from, "t": end_date},
            )
        }
    holdout_ap = holdout_average_precision(engine, uc.name)
    written: list[dict[str, Any]] = []
    upsert = sa.text(load_sql("monitoring/upsert_model_performance.sql"))
    for role in ROLES:
        table = scored_table(uc, role)
        if not _table_exists(engine, table):
            continue
        labelled = labelled_scores_query(uc, table)
        with engine.begin() as conn:
            # fresh statistics: a just-published date is invisible to stale ones, and the planner then
            # picks a nested loop that takes seconds instead of milliseconds. The predictions table is
            # partitioned by date: only the newest partition lacks statistics (analysing the parent would
            # sample every partition, every night)
            conn.execute(sa.text(f"analyze {newest_partition(conn, uc, end_date) if role == 'champion' else table}"))
        with engine.connect() as conn:
            fingerprints = conn.execute(
                sa.text(
                    f"with labelled as ({labelled}) "  # noqa: S608 (composed from project SQL files)
                    "select score_date, model_version, min(run_id) as run_id, count(*) || ':' || "
                    "sum(hashtext(entity_id || ':' || label::text || ':' || run_id)::bigint) as fingerprint "
                    "from labelled group by score_date, model_version"
                ),
                window,
            ).all()
        for row in fingerprints:
            key = (row.score_date, row.model_version, role)
            if stored.get(key) == row.fingerprint:
                continue
            with engine.connect() as conn:
                data = conn.execute(
                    sa.text(
                        f"with labelled as ({labelled}) "  # noqa: S608
                        "select score, label, threshold from labelled "
                        "where score_date = :d and model_version = :v"
                    ),
                    {
                        **window,
                        "date_from": row.score_date,
                        "date_to": row.score_date,
                        "d": row.score_date,
                        "v": row.model_version,
                    },
                ).all()
            scores = np.array([r.score for r in data], dtype="float64")
            labels = np.array([r.label for r in data], dtype=bool)
            perf = compute_performance(labels, scores, float(data[0].threshold))
            record = {
                "use_case": uc.name,
                "score_date": row.score_date,
                "model_version": row.model_version,
                "role": role,
                "run_id": row.run_id,
                **asdict(perf),
                "status": judge(perf, holdout_ap.get(row.model_version), uc),
                "labels_fingerprint": row.fingerprint,
            }
            with engine.begin() as conn:
                conn.execute(upsert, record)
            written.append(record)
    if written:
        log.info("performance recomputed for %d (date, version, role) with new labels", len(written))
    return written


def _table_exists(engine: Engine, table: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.text("select to_regclass(:t) is not null"), {"t": table}).scalar_one()
