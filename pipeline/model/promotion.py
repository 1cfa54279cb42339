"""The promotion rule: is the challenger better than the champion, on the same evidence? (pure)

Both models are scored on the same out-of-time holdout. The challenger is promoted only when its primary
metric (per task kind: :data:`pipeline.config.modelling.PROMOTION_METRICS`) improves by at least a margin, a paired
bootstrap over the holdout rows shows the improvement is not noise, and, for a binary use case, the guardrails
hold (calibration not worse beyond a tolerance, a sane share flagged at the threshold).

A model's output is what :func:`pipeline.model.predict.output_matrix` gives: P(positive) (binary), the class
probabilities in the order of ``classes`` (multiclass), the predicted values (regression).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from pipeline.config.usecase import PromotionRule
from pipeline.model.metrics import kind_metrics, metric_value

__all__ = ["Decision", "PromotionRule", "metric_value", "paired_bootstrap", "should_promote", "summarize"]


@dataclass
class Decision:
    """The outcome of :func:`should_promote`, with its evidence."""

    promote: bool
    reason: str
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None = None
    improvement: float | None = None
    bootstrap: dict[str, float] = field(default_factory=dict)
    guardrails: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


#: what the promotion log reports of each model on the holdout, per kind
SUMMARY_KEYS = {
    "binary": ("average_precision", "roc_auc", "brier", "flagged_share", "rows"),
    "multiclass": ("log_loss", "macro_f1", "balanced_accuracy", "accuracy", "rows"),
    "regression": ("mae", "rmse", "r2", "bias", "rows"),
}


def summarize(
    y: np.ndarray,
    output: np.ndarray,
    threshold: float | None,
    kind: str = "binary",
    classes: tuple[str, ...] | None = None,
) -> dict[str, float]:
    """The metrics the rule and the promotion log report for one model on the holdout."""
    m = kind_metrics(kind, y, output, threshold=threshold, classes=classes)
    return {k: m[k] for k in SUMMARY_KEYS[kind]}


def _judgeable(y: np.ndarray, kind: str) -> bool:
    """Whether a (resampled) holdout can rank two models: both classes (binary), two classes (multiclass), a
    label that varies (regression)."""
    if kind == "binary":
        return bool(y.any() and not y.all())
    return len(np.unique(y)) > 1


def paired_bootstrap(
    metric: str,
    y: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    samples: int,
    seed: int,
    kind: str = "binary",
    classes: tuple[str, ...] | None = None,
) -> dict[str, float]:
    """Resample holdout rows with replacement; the challenger-minus-champion gain in each resample."""
    rng = np.random.default_rng(seed)
    n = len(y)
    gains = []
    for _ in range(samples):
        idx = rng.integers(0, n, n)
        if not _judgeable(y[idx], kind):
            continue  # e.g. a resample with one class has no ranking metric
        gains.append(
            metric_value(metric, y[idx], challenger[idx], classes)
            - metric_value(metric, y[idx], champion[idx], classes)
        )
    values = np.asarray(gains)
    if values.size == 0:
        return {"samples": 0, "win_share": 0.0, "gain_p05": float("nan"), "gain_p95": float("nan")}
    return {
        "samples": int(values.size),
        "win_share": float(np.mean(values > 0)),
        "gain_p05": float(np.quantile(values, 0.05)),
        "gain_p95": float(np.quantile(values, 0.95)),
    }


def should_promote(
    y: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray | None,
    threshold: float | None,
    rule: PromotionRule,
    kind: str = "binary",
    classes: tuple[str, ...] | None = None,
) -> Decision:
    """Decide whether the ``challenger``'s output should replace the ``champion``'s (both on holdout labels ``y``).

    No champion: the first valid model is promoted (guardrails still apply).
    """
    y = np.asarray(y, dtype=bool) if kind == "binary" else np.asarray(y)
    challenger = np.asarray(challenger, dtype=float)
    if not _judgeable(y, kind):
        what = "only one class" if kind != "regression" else "one label value"
        return Decision(False, f"the holdout has {what}: no evidence either way", {"rows": int(len(y))})
    new = summarize(y, challenger, threshold, kind, classes)
    if kind != "binary":
        return _should_promote_by_metric(y, challenger, champion, rule, kind, classes, new)
    assert threshold is not None
    low, high = rule.flagged_share_bounds
    guardrails: dict[str, Any] = {
        "flagged_share": new["flagged_share"],
        "flagged_share_bounds": [low, high],
        "flagged_share_ok": low <= new["flagged_share"] <= high,
    }
    if champion is None:
        if not guardrails["flagged_share_ok"]:
            return Decision(
                False,
                f"no champion yet, but the challenger flags {new['flagged_share']:.1%} of the "
                f"holdout, outside [{low:.1%}, {high:.1%}]",
                new,
                guardrails=guardrails,
            )
        return Decision(True, "no champion yet: the first valid model is promoted", new, guardrails=guardrails)

    champion = np.asarray(champion, dtype=float)
    old = summarize(y, champion, threshold)
    metric = rule.primary_metric("binary")
    gain = metric_value(metric, y, challenger) - metric_value(metric, y, champion)
    brier_delta = new["brier"] - old["brier"]
    guardrails.update(
        {
            "brier_delta": brier_delta,
            "brier_tolerance": rule.brier_tolerance,
            "brier_ok": brier_delta <= rule.brier_tolerance,
        }
    )
    name = metric.replace("_", " ")
    if gain < rule.min_improvement:
        return Decision(
            False,
            f"{name} gain {gain:+.4f} is below the required margin {rule.min_improvement:.4f}",
            new,
            old,
            gain,
            guardrails=guardrails,
        )
    boot = paired_bootstrap(metric, y, champion, challenger, rule.bootstrap_samples, rule.seed)
    if boot["win_share"] < rule.min_win_share:
        return Decision(
            False,
            f"{name} gain {gain:+.4f} is not distinguishable from noise: the challenger wins "
            f"{boot['win_share']:.0%} of {boot['samples']} bootstrap resamples, "
            f"{rule.min_win_share:.0%} required",
            new,
            old,
            gain,
            boot,
            guardrails,
        )
    if not guardrails["brier_ok"]:
        return Decision(
            False,
            f"{name} improves by {gain:+.4f}, but the Brier score worsens by {brier_delta:+.4f} "
            f"(tolerance {rule.brier_tolerance})",
            new,
            old,
            gain,
            boot,
            guardrails,
        )
    if not guardrails["flagged_share_ok"]:
        return Decision(
            False,
            f"{name} improves by {gain:+.4f}, but the challenger flags "
            f"{new['flagged_share']:.1%} of the holdout, outside [{low:.1%}, {high:.1%}]",
            new,
            old,
            gain,
            boot,
            guardrails,
        )
    return Decision(
        True,
        f"{name} improves by {gain:+.4f} (>= {rule.min_improvement}); the challenger wins "
        f"{boot['win_share']:.0%} of {boot['samples']} bootstrap resamples; guardrails hold",
        new,
        old,
        gain,
        boot,
        guardrails,
    )


def _should_promote_by_metric(
    y: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray | None,
    rule: PromotionRule,
    kind: str,
    classes: tuple[str, ...] | None,
    new: dict[str, float],
) -> Decision:
    """The rule for multiclass and regression: the primary metric's margin and the bootstrap (no threshold, so
    no flagged-share or Brier guardrail)."""
    if champion is None:
        return Decision(True, "no champion yet: the first valid model is promoted", new)
    champion = np.asarray(champion, dtype=float)
    old = summarize(y, champion, None, kind, classes)
    metric = rule.primary_metric(kind)
    gain = metric_value(metric, y, challenger, classes) - metric_value(metric, y, champion, classes)
    name = metric.replace("_", " ")
    if gain < rule.min_improvement:
        return Decision(
            False, f"{name} gain {gain:+.4f} is below the required margin {rule.min_improvement:.4f}", new, old, gain
        )
    boot = paired_bootstrap(metric, y, champion, challenger, rule.bootstrap_samples, rule.seed, kind, classes)
    if boot["win_share"] < rule.min_win_share:
        return Decision(
            False,
            f"{name} gain {gain:+.4f} is not distinguishable from noise: the challenger wins "
            f"{boot['win_share']:.0%} of {boot['samples']} bootstrap resamples, {rule.min_win_share:.0%} required",
            new,
            old,
            gain,
            boot,
        )
    return Decision(
        True,
        f"{name} improves by {gain:+.4f} (>= {rule.min_improvement}); the challenger wins "
        f"{boot['win_share']:.0%} of {boot['samples']} bootstrap resamples",
        new,
        old,
        gain,
        boot,
    )
