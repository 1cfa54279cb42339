"""Performance once labels arrive: join the labels known by now to past predictions and shadow scores.

Every night the score dates of the last ``performance_lookback_days`` are looked at. A date (per model version
and role) is recomputed only when its labels or its published run changed since the last computation (a
fingerprint of both is stored), so late labels update a date and nothing else is redone.

The metrics are the task kind's, computed by :func:`pipeline.model.metrics.kind_metrics` from the stored outputs
(binary: the score and its threshold; multiclass: the class probabilities, aligned to the version's classes;
regression: the predicted value and its interval) against labels checked by
:func:`pipeline.model.labels.coerce_labels`: the same functions the holdout evaluation uses. Every kind's metrics
go to ``model_performance.metrics``; a binary date also fills the columns it always had.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.config.usecase import UseCase
from pipeline.db.predictions import newest_partition, scored_table
from pipeline.db.queries import labelled_scores_query
from pipeline.db.sql import load_sql
from pipeline.model.labels import coerce_labels
from pipeline.model.metrics import classification_metrics, defined, kind_metrics
from pipeline.model.registry import ModelVersion, get_version
from pipeline.monitoring.formatting import figure

log = logging.getLogger(__name__)

ROLES = ("champion", "shadow")
#: the columns of a stored output each kind's metrics are computed from (besides the label)
OUTPUT_COLUMNS = {
    "binary": ("score", "threshold"),
    "multiclass": ("class_probabilities",),
    "regression": ("score", "prediction_lower", "prediction_upper"),
}
#: the metric a kind's degraded rule looks at first (the BI views' headline_metric, the report's headline)
HEADLINE_METRIC = {"binary": "average_precision", "multiclass": "macro_f1", "regression": "mae"}
BINARY_COLUMNS = (
    "positive_count",
    "flagged_count",
    "threshold",
    "average_precision",
    "roc_auc",
    "brier",
    "precision_at_threshold",
    "recall_at_threshold",
)


@dataclass(frozen=True)
class Performance:
    """Metrics of one (score date, model version, role) from its labelled outputs. The binary columns are None
    for the other kinds; ``metrics`` holds the kind's metrics (undefined ones left out)."""

    label_count: int
    positive_count: int | None = None
    flagged_count: int | None = None
    threshold: float | None = None
    average_precision: float | None = None
    roc_auc: float | None = None
    brier: float | None = None
    precision_at_threshold: float | None = None
    recall_at_threshold: float | None = None
    kind: str = "binary"
    metrics: dict[str, Any] = field(default_factory=dict)


def compute_performance(labels: np.ndarray, scores: np.ndarray, threshold: float) -> Performance:
    """Binary: average precision, ROC AUC, Brier score, precision and recall at the threshold (pure; undefined:
    None)."""
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
        kind="binary",
        metrics=defined(m),
    )


def aligned_probabilities(
    proba: np.ndarray, classes: Sequence[str], labels: np.ndarray
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The stored class probabilities (columns in the version's ``classes`` order) widened by the classes the
    labels add (probability 0: the model never predicts them), as the holdout evaluation does; columns put in
    the lexicographic order of the class names, the order scikit-learn's ``log_loss`` assumes whatever
    ``labels`` says (an integer class 10 sorts before 2)."""
    names = tuple(str(c) for c in classes)
    extra = tuple(sorted(set(map(str, labels)) - set(names)))
    if proba.ndim != 2 or proba.shape[1] != len(names):
        raise ValueError(f"{proba.shape} class probabilities for the version's {len(names)} classes")
    if extra:
        proba = np.hstack([proba, np.zeros((len(proba), len(extra)))])
    widened = names + extra
    order = sorted(range(len(widened)), key=lambda j: widened[j])
    return proba[:, order], tuple(widened[j] for j in order)


def kind_performance(
    kind: str,
    labels: np.ndarray,
    output: np.ndarray,
    *,
    threshold: float | None = None,
    classes: Sequence[str] | None = None,
    interval: tuple[np.ndarray, np.ndarray] | None = None,
) -> Performance:
    """The kind's performance from coerced labels and the stored output (pure): binary P(positive) and its
    threshold; multiclass the class probabilities in the version's ``classes`` order; regression the predicted
    values and, when published, the interval."""
    if kind == "binary":
        assert threshold is not None, "binary performance needs the threshold"
        return compute_performance(labels, output, threshold)
    if kind == "multiclass":
        assert classes is not None, "multiclass performance needs the version's classes"
        proba, names = aligned_probabilities(np.asarray(output, dtype="float64"), classes, labels)
        metrics = defined(kind_metrics(kind, labels, proba, classes=names))
        metrics["class_counts"] = {c: int(np.sum(labels == c)) for c in names}
    else:
        metrics = defined(kind_metrics(kind, labels, output, interval=interval))
    return Performance(label_count=int(metrics["rows"]), kind=kind, metrics=metrics)


# --- judging (pure) ----------------------------------------------------------------------------------------------


def assess(perf: Performance, holdout: Mapping[str, Any] | None, uc: UseCase) -> tuple[str, list[str]]:
    """``(status, reasons)``: ``insufficient`` (too little evidence for the kind), ``degraded`` (below a floor
    of the kind, each breach one reason naming the figure, the floor and the holdout figure) or ``ok``."""
    cfg, held = uc.monitoring, dict(holdout or {})
    m = perf.metrics
    if perf.label_count < cfg.min_labels:
        return "insufficient", [f"{perf.label_count:,} labels, {cfg.min_labels:,} needed"]
    reasons: list[str] = []
    if perf.kind == "binary":
        positives = perf.positive_count or 0
        if positives < cfg.min_positives:
            return "insufficient", [f"{positives:,} positives, {cfg.min_positives:,} needed"]
        if perf.roc_auc is not None and perf.roc_auc < cfg.min_roc_auc:
            reasons.append(f"ROC AUC {perf.roc_auc:.3f} < {cfg.min_roc_auc:g}")
        ap, held_ap = perf.average_precision, held.get("average_precision")
        if ap is not None and held_ap is not None and ap < cfg.min_average_precision_ratio * held_ap:
            reasons.append(f"average precision {ap:.3f} < {cfg.min_average_precision_ratio:g} x holdout {held_ap:.3f}")
    elif perf.kind == "multiclass":
        counts = m.get("class_counts") or {}
        rare = [c for c, n in counts.items() if n < cfg.min_class_labels]
        if rare:
            least = min(counts[c] for c in rare)
            return "insufficient", [
                f"class {', '.join(rare)} has {least:,} labels, {cfg.min_class_labels:,} needed of every class"
            ]
        f1, held_f1 = m.get("macro_f1"), held.get("macro_f1")
        if f1 is not None and held_f1 is not None and f1 < cfg.min_macro_f1_ratio * held_f1:
            reasons.append(f"macro F1 {f1:.3f} < {cfg.min_macro_f1_ratio:g} x holdout {held_f1:.3f}")
        loss, held_loss = m.get("log_loss"), held.get("log_loss")
        if loss is not None and held_loss is not None and loss > cfg.max_log_loss_ratio * held_loss:
            reasons.append(f"log loss {loss:.4f} > {cfg.max_log_loss_ratio:g} x holdout {held_loss:.4f}")
    elif perf.kind == "regression":
        mae, held_mae = m.get("mae"), held.get("mae")
        if mae is not None and held_mae is not None and mae > cfg.max_mae_ratio * held_mae:
            reasons.append(f"MAE {mae:.3f} > {cfg.max_mae_ratio:g} x holdout {held_mae:.3f}")
        coverage = m.get("interval_coverage")
        declared = uc.target.interval if uc.target.interval is not None else held.get("interval_coverage")
        if coverage is not None and declared is not None and coverage < declared - cfg.max_coverage_shortfall:
            reasons.append(
                f"interval coverage {coverage:.2f} < {declared:g} - {cfg.max_coverage_shortfall:g} "
                f"(holdout {figure(held.get('interval_coverage'), '.2f')})"
            )
    else:
        raise ValueError(f"unknown task kind {perf.kind!r}")
    return ("degraded" if reasons else "ok"), reasons


def judge(perf: Performance, holdout: Mapping[str, Any] | None, uc: UseCase) -> str:
    """``insufficient``, ``degraded`` or ``ok`` (see :func:`assess`)."""
    return assess(perf, holdout, uc)[0]


# --- reading and storing -----------------------------------------------------------------------------------------


def _labels(kind: str, raw: list[Any], where: str) -> np.ndarray:
    values = pd.Series(raw)
    if kind == "regression" and values.dtype == object and all(isinstance(v, Decimal) for v in raw):
        values = values.astype("float64")  # a numeric label comes back as Decimal
    return coerce_labels(kind, values, where)


def performance_of_rows(uc: UseCase, rows: Sequence[Any], version: ModelVersion) -> Performance:
    """The performance of one (date, version, role) from its labelled rows (``OUTPUT_COLUMNS`` and ``label``)."""
    kind = uc.target.kind
    labels = _labels(kind, [r.label for r in rows], f"{uc.name}: the labels (sql/{uc.sql.labels})")
    if kind == "binary":
        scores = np.array([r.score for r in rows], dtype="float64")
        return kind_performance(kind, labels, scores, threshold=float(rows[0].threshold))
    if kind == "multiclass":
        if not version.classes:
            raise ValueError(f"{uc.name} {version.version}: a multiclass version without recorded classes")
        proba = np.array([list(r.class_probabilities) for r in rows], dtype="float64")
        return kind_performance(kind, labels, proba, classes=version.classes)
    values = np.array([r.score for r in rows], dtype="float64")
    lower = [r.prediction_lower for r in rows]
    upper = [r.prediction_upper for r in rows]
    has_interval = all(v is not None for v in lower) and all(v is not None for v in upper)
    interval = (np.array(lower, dtype="float64"), np.array(upper, dtype="float64")) if has_interval else None
    return kind_performance(kind, labels, values, interval=interval)


def performance_record(perf: Performance) -> dict[str, Any]:
    """The stored columns of a performance: the binary ones (None for other kinds), the kind, its metrics."""
    return {
        "label_count": perf.label_count,
        **{column: getattr(perf, column) for column in BINARY_COLUMNS},
        "kind": perf.kind,
        "metrics": perf.metrics,
    }


def update_performance(
    engine: Engine, uc: UseCase, end_date: dt.date, *, as_of: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """(Re)compute the performance of every score date in the lookback window ending at ``end_date`` whose
    labels or published run changed; return the rows written (dicts with the metrics and the degraded rule's
    reasons, for alerting)."""
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
    versions: dict[str, ModelVersion] = {}
    written: list[dict[str, Any]] = []
    upsert = sa.text(load_sql("monitoring/upsert_model_performance.sql"))
    columns = ", ".join(OUTPUT_COLUMNS[uc.target.kind])
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
                        f"select {columns}, label from labelled "
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
            if row.model_version not in versions:
                versions[row.model_version] = get_version(engine, uc.name, row.model_version)
            version = versions[row.model_version]
            perf = performance_of_rows(uc, data, version)
            status, reasons = assess(perf, version.holdout_metrics, uc)
            record = {
                "use_case": uc.name,
                "score_date": row.score_date,
                "model_version": row.model_version,
                "role": role,
                "run_id": row.run_id,
                **performance_record(perf),
                "status": status,
                "labels_fingerprint": row.fingerprint,
            }
            with engine.begin() as conn:
                conn.execute(upsert, {**record, "metrics": json.dumps(perf.metrics, allow_nan=False)})
            written.append({**record, "reasons": reasons, "holdout": dict(version.holdout_metrics or {})})
    if written:
        log.info("performance recomputed for %d (date, version, role) with new labels", len(written))
    return written


def _table_exists(engine: Engine, table: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.text("select to_regclass(:t) is not null"), {"t": table}).scalar_one()
