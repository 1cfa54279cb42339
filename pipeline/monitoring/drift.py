"""Drift: how far a night's inputs and scores moved away from what the model version was trained on (pure).

Every night the batch is binned with the edges of the version's reference (:mod:`pipeline.model.reference`) and
compared:

- ``psi``: population stability index over the non-null values (numeric bins or categories; the score, and a
  multiclass model's predicted-class shares);
- ``null_rate_delta``: absolute change of the null share;
- ``unseen_share``: share of the batch's categories the model never saw.

A metric of a batch with fewer than ``min_rows`` usable rows is ``insufficient`` and never alerts: a small batch
cannot tell drift from noise. Reading the batch and storing the metrics is :mod:`.drift_store`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config.usecase import MonitoringSpec, UseCase
from pipeline.contracts import Drift
from pipeline.errors import BatchscoreError

SCORE_FEATURE = "score"
PREDICTED_CLASS_FEATURE = "predicted_class"  # multiclass: the shares of the published predicted classes


class DriftError(BatchscoreError, ValueError):
    """Counts that cannot be compared with the reference (different bins)."""


SHARE_FLOOR = 1e-4  # empty bins get this share, so that the logarithm stays finite


def population_stability_index(expected: list[float] | np.ndarray, actual: list[float] | np.ndarray) -> float:
    """PSI = sum((actual - expected) * ln(actual / expected)) over bins, empty bins floored at 1e-4."""
    e = np.maximum(np.asarray(expected, dtype="float64"), SHARE_FLOOR)
    a = np.maximum(np.asarray(actual, dtype="float64"), SHARE_FLOOR)
    if e.shape != a.shape:
        raise DriftError(f"PSI needs the same bins on both sides, got {e.shape[0]} and {a.shape[0]}")
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class DriftMetric:
    """One row of ``batchscore.drift_metrics``."""

    feature: str
    metric: str
    value: float
    threshold: float
    status: str
    sample_rows: int
    reference_rows: int


def _judged(
    feature: str, metric: str, value: float, threshold: float, rows: int, reference_rows: int, min_rows: int
) -> DriftMetric:
    status = "insufficient" if rows < min_rows else ("drift" if value > threshold else "ok")
    return DriftMetric(feature, metric, round(value, 6), threshold, status, rows, reference_rows)


def compare_numeric(
    feature: str,
    ref: dict[str, Any],
    bucket_counts: dict[int | None, int],
    cfg: MonitoringSpec,
    *,
    with_nulls: bool = True,
) -> list[DriftMetric]:
    """PSI (and null-rate change) of one numeric column from its batch counts per ``width_bucket`` index
    (``None``: nulls)."""
    nulls = bucket_counts.get(None, 0)
    present = sum(n for b, n in bucket_counts.items() if b is not None)
    total = present + nulls
    metrics = []
    if ref["rows"] and present:
        actual = np.zeros(len(ref["shares"]))
        for bucket, n in bucket_counts.items():
            if bucket is not None:
                actual[int(bucket)] += n
        psi = population_stability_index(ref["shares"], actual / present)
        metrics.append(_judged(feature, "psi", psi, cfg.psi_threshold, present, ref["rows"], cfg.min_rows))
    if with_nulls and total:
        delta = abs(nulls / total - ref["null_rate"])
        metrics.append(
            _judged(feature, "null_rate_delta", delta, cfg.null_rate_delta_threshold, total, ref["rows"], cfg.min_rows)
        )
    return metrics


def compare_categorical(
    feature: str, ref: dict[str, Any], value_counts: dict[str | None, int], seen: set[str] | None, cfg: MonitoringSpec
) -> list[DriftMetric]:
    """PSI over the reference categories (+ other), null-rate change, and the share the model never saw."""
    nulls = value_counts.get(None, 0)
    present = {str(v): n for v, n in value_counts.items() if v is not None}
    n_present = sum(present.values())
    total = n_present + nulls
    metrics = []
    if n_present:
        index = {c: i for i, c in enumerate(ref["categories"])}
        actual = np.zeros(len(ref["categories"]) + 1)
        for value, n in present.items():
            actual[index.get(value, len(ref["categories"]))] += n
        psi = population_stability_index(ref["shares"], actual / n_present)
        metrics.append(_judged(feature, "psi", psi, cfg.psi_threshold, n_present, ref["rows"], cfg.min_rows))
        if seen is not None:
            unseen = sum(n for v, n in present.items() if v not in seen) / n_present
            metrics.append(
                _judged(
                    feature, "unseen_share", unseen, cfg.unseen_share_threshold, n_present, ref["rows"], cfg.min_rows
                )
            )
    if total:
        delta = abs(nulls / total - ref["null_rate"])
        metrics.append(
            _judged(feature, "null_rate_delta", delta, cfg.null_rate_delta_threshold, total, ref["rows"], cfg.min_rows)
        )
    return metrics


def compare_shares(
    feature: str, ref: dict[str, Any], value_counts: dict[str, int], cfg: MonitoringSpec
) -> list[DriftMetric]:
    """PSI of the shares of a model output's values (a multiclass model's predicted classes) against the holdout's:
    the reference's classes plus a last bin for classes the holdout never saw predicted (pure)."""
    counts: dict[str | None, int] = {value: n for value, n in value_counts.items()}
    return [m for m in compare_categorical(feature, ref, counts, None, cfg) if m.metric == "psi"]


def compare_batch(
    reference: dict[str, Any],
    numeric_counts: dict[str, dict[int | None, int]],
    categorical_counts: dict[str, dict[str | None, int]],
    seen_categories: dict[str, set[str]],
    uc: UseCase,
) -> list[DriftMetric]:
    """Every feature's drift metrics from the batch's counts (pure)."""
    metrics: list[DriftMetric] = []
    ignored = set(uc.monitoring.ignore_features)
    for column in uc.features.numeric:
        if column in ignored:
            continue
        metrics += compare_numeric(column, reference["numeric"][column], numeric_counts.get(column, {}), uc.monitoring)
    for column in uc.features.categorical:
        if column in ignored:
            continue
        metrics += compare_categorical(
            column,
            reference["categorical"][column],
            categorical_counts.get(column, {}),
            seen_categories.get(column),
            uc.monitoring,
        )
    return metrics


def sample_percent(rows: int, max_rows: int) -> float | None:
    """TABLESAMPLE percentage that yields about ``max_rows`` of ``rows``; None: read every row."""
    return None if rows <= max_rows else 100.0 * max_rows / rows


def numeric_counts(values: pd.Series, edges: list[float]) -> dict[int | None, int]:
    """Rows per bin of ``edges`` (``edges[i-1] <= x < edges[i]``) and nulls (key None)."""
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    present = numbers[~np.isnan(numbers)]
    if not edges:
        counts: dict[int | None, int] = {0: int(len(present))} if len(present) else {}
    else:
        bins, n = np.unique(np.searchsorted(np.asarray(edges), present, side="right"), return_counts=True)
        counts = {int(b): int(c) for b, c in zip(bins, n, strict=True)}
    nulls = int(len(numbers) - len(present))
    return {**counts, None: nulls} if nulls else counts


def count_batch(frame: pd.DataFrame, reference: dict[str, Any], uc: UseCase) -> tuple[dict, dict]:
    """Bin counts of the numeric features and value counts of the categorical ones (pure)."""
    numeric = {c: numeric_counts(frame[c], reference["numeric"][c]["edges"]) for c in uc.features.numeric if c in frame}
    categorical: dict[str, dict[str | None, int]] = {}
    for column in (c for c in uc.features.categorical if c in frame):
        values = frame[column]
        counts: dict[str | None, int] = {str(k): int(v) for k, v in values.dropna().value_counts().items()}
        nulls = int(values.isna().sum())
        categorical[column] = {**counts, None: nulls} if nulls else counts
    return numeric, categorical


def summarise(metrics: list[DriftMetric]) -> Drift:
    """Small XCom summary of drift metrics."""
    psi = [m.value for m in metrics if m.metric == "psi" and math.isfinite(m.value)]
    return Drift(
        metrics=len(metrics),
        drifted=sorted({f"{m.feature}:{m.metric}" for m in metrics if m.status == "drift"}),
        insufficient=sum(m.status == "insufficient" for m in metrics),
        max_psi=round(max(psi), 4) if psi else None,
    )
