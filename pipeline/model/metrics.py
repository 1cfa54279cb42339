"""The classification metrics, computed one way everywhere: holdout evaluation, promotion and nightly performance.

A metric that is undefined for the rows given is ``None`` (never 0, never NaN): average precision and ROC AUC
need both classes, precision at the threshold needs a flagged row, recall a positive one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.errors import BatchscoreError

METRICS = ("average_precision", "roc_auc", "neg_brier")  # what a promotion may compare (higher is better)


class MetricsError(BatchscoreError, ValueError):
    """Labels and scores that no metric can be computed from, or an unknown metric."""


def classification_metrics(labels: Any, scores: Any, threshold: float) -> dict[str, Any]:
    """Counts, base rate, AP, ROC AUC, Brier score, flagged share, precision and recall at ``threshold`` (pure)."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(labels, dtype=bool)
    p = np.asarray(scores, dtype="float64")
    if len(y) == 0:
        raise MetricsError("no labelled scores to compute performance from")
    if len(y) != len(p):
        raise MetricsError(f"{len(y)} labels but {len(p)} scores")
    flagged = p >= threshold
    positives, n_flagged = int(y.sum()), int(flagged.sum())
    both_classes = 0 < positives < len(y)
    true_positives = int((flagged & y).sum())
    return {
        "rows": int(len(y)),
        "positives": positives,
        "flagged": n_flagged,
        "base_rate": positives / len(y),
        "average_precision": float(average_precision_score(y, p)) if both_classes else None,
        "roc_auc": float(roc_auc_score(y, p)) if both_classes else None,
        "brier": float(brier_score_loss(y, p, pos_label=True)),
        "flagged_share": n_flagged / len(y),
        "precision_at_threshold": true_positives / n_flagged if n_flagged else None,
        "recall_at_threshold": true_positives / positives if positives else None,
    }


def metric_value(metric: str, y: np.ndarray, score: np.ndarray) -> float:
    """One metric where higher is better: average precision, ROC AUC, or the negative Brier score."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    if metric == "average_precision":
        return float(average_precision_score(y, score))
    if metric == "roc_auc":
        return float(roc_auc_score(y, score))
    if metric == "neg_brier":
        return -float(brier_score_loss(y, score))
    raise MetricsError(f"unknown promotion metric {metric!r}; use one of {', '.join(METRICS)}")


def defined(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics without the undefined ones (what is stored as a version's holdout metrics)."""
    return {k: v for k, v in metrics.items() if v is not None}
