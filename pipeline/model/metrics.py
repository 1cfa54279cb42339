"""The metrics of every task kind, computed one way everywhere: holdout evaluation, promotion and nightly
performance.

A model's *output* on n rows is what :func:`pipeline.model.predict.output_matrix` returns: for a binary use case
P(positive) (n,), for a multiclass one the class probabilities (n, k) in the order of ``classes``, for a
regression the predicted values (n,). A metric that is undefined for the rows given is ``None`` (never 0, never
NaN): average precision and ROC AUC need both classes, precision at the threshold needs a flagged row, recall a
positive one, R2 a label that varies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.config.modelling import PROMOTION_METRICS
from pipeline.errors import BatchscoreError

METRICS = tuple(m for kind in PROMOTION_METRICS.values() for m in kind)  # what a promotion may compare


class MetricsError(BatchscoreError, ValueError):
    """Labels and outputs that no metric can be computed from, or an unknown metric."""


def _check_rows(y: np.ndarray, output: np.ndarray) -> None:
    if len(y) == 0:
        raise MetricsError("no labelled scores to compute performance from")
    if len(y) != len(output):
        raise MetricsError(f"{len(y)} labels but {len(output)} scores")


def classification_metrics(labels: Any, scores: Any, threshold: float) -> dict[str, Any]:
    """Binary: counts, base rate, AP, ROC AUC, Brier score, flagged share, precision and recall at ``threshold``."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(labels, dtype=bool)
    p = np.asarray(scores, dtype="float64")
    _check_rows(y, p)
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


def _log_loss(y: np.ndarray, proba: np.ndarray, names: Sequence[str]) -> float:
    """Log loss of probabilities whose columns follow ``names``: scikit-learn reads the columns in the sorted
    order of the labels whatever ``labels=`` says, so they are put in that order first."""
    from sklearn.metrics import log_loss

    order = sorted(range(len(names)), key=lambda i: names[i])
    return float(log_loss(y, np.clip(proba[:, order], 1e-15, 1.0), labels=[names[i] for i in order]))


def multiclass_metrics(labels: Any, proba: Any, classes: Sequence[str]) -> dict[str, Any]:
    """Multiclass: log loss, macro F1, balanced accuracy, accuracy, and each class's share and recall."""
    from sklearn.metrics import balanced_accuracy_score, f1_score, recall_score

    y = np.asarray(labels, dtype=object).astype(str)
    p = np.asarray(proba, dtype="float64")
    _check_rows(y, p)
    names = [str(c) for c in classes]
    unknown = sorted(set(y) - set(names))
    if unknown:
        raise MetricsError(f"labels with classes the model does not know: {', '.join(unknown[:5])}")
    predicted = np.asarray(names, dtype=object)[p.argmax(axis=1)].astype(str)
    present = [c for c in names if (y == c).any()]
    recalls = recall_score(y, predicted, labels=present, average=None, zero_division=0) if present else []
    return {
        "rows": int(len(y)),
        "classes": len(names),
        "log_loss": _log_loss(y, p, names),
        "macro_f1": float(f1_score(y, predicted, labels=present, average="macro", zero_division=0)),
        "balanced_accuracy": float(balanced_accuracy_score(y, predicted)) if len(present) > 1 else None,
        "accuracy": float(np.mean(predicted == y)),
        "class_share": {c: float(np.mean(y == c)) for c in names},
        "predicted_share": {c: float(np.mean(predicted == c)) for c in names},
        "class_recall": {c: float(r) for c, r in zip(present, recalls, strict=True)},
    }


def regression_metrics(labels: Any, predictions: Any, lower: Any = None, upper: Any = None) -> dict[str, Any]:
    """Regression: MAE, RMSE, R2, the mean label and prediction (their difference is the bias), and the
    interval's coverage and mean width when the model gives one."""
    y = np.asarray(labels, dtype="float64")
    p = np.asarray(predictions, dtype="float64")
    _check_rows(y, p)
    error = p - y
    variance = float(np.var(y))
    out: dict[str, Any] = {
        "rows": int(len(y)),
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "r2": 1.0 - float(np.mean(error**2)) / variance if variance > 0 else None,
        "mean_label": float(np.mean(y)),
        "mean_prediction": float(np.mean(p)),
        "bias": float(np.mean(error)),
    }
    if lower is not None and upper is not None:
        low, high = np.asarray(lower, dtype="float64"), np.asarray(upper, dtype="float64")
        out["interval_coverage"] = float(np.mean((y >= low) & (y <= high)))
        out["interval_width"] = float(np.mean(high - low))
    return out


def metric_value(metric: str, y: np.ndarray, output: np.ndarray, classes: Sequence[str] | None = None) -> float:
    """One promotion metric where higher is better, of any kind (see :data:`METRICS`)."""
    from sklearn import metrics as m

    if metric == "average_precision":
        return float(m.average_precision_score(y, output))
    if metric == "roc_auc":
        return float(m.roc_auc_score(y, output))
    if metric == "neg_brier":
        return -float(m.brier_score_loss(y, output))
    if metric in ("neg_log_loss", "macro_f1", "balanced_accuracy"):
        if classes is None:
            raise MetricsError(f"{metric} needs the model's classes")
        names = [str(c) for c in classes]
        if metric == "neg_log_loss":
            return -_log_loss(np.asarray(y, dtype=object).astype(str), np.asarray(output, dtype="float64"), names)
        predicted = np.asarray(names, dtype=object)[np.asarray(output).argmax(axis=1)].astype(str)
        if metric == "macro_f1":
            return float(m.f1_score(y, predicted, labels=sorted(set(y)), average="macro", zero_division=0))
        return float(m.balanced_accuracy_score(y, predicted))
    if metric == "neg_mae":
        return -float(np.mean(np.abs(output - y)))
    if metric == "neg_rmse":
        return -float(np.sqrt(np.mean((output - y) ** 2)))
    if metric == "r2":
        return float(m.r2_score(y, output))
    raise MetricsError(f"unknown promotion metric {metric!r}; use one of {', '.join(METRICS)}")


def kind_metrics(
    kind: str,
    labels: Any,
    output: Any,
    *,
    threshold: float | None = None,
    classes: Sequence[str] | None = None,
    interval: tuple[Any, Any] | None = None,
) -> dict[str, Any]:
    """The metrics of a task kind for one model's output on labelled rows (what holdout and nightly performance
    report)."""
    if kind == "binary":
        if threshold is None:
            raise MetricsError("binary metrics need the threshold")
        return classification_metrics(labels, output, threshold)
    if kind == "multiclass":
        if classes is None:
            raise MetricsError("multiclass metrics need the model's classes")
        return multiclass_metrics(labels, output, classes)
    if kind == "regression":
        lower, upper = interval if interval is not None else (None, None)
        return regression_metrics(labels, output, lower, upper)
    raise MetricsError(f"unknown task kind {kind!r}")


def defined(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics without the undefined ones (what is stored as a version's holdout metrics)."""
    return {k: v for k, v in metrics.items() if v is not None}
