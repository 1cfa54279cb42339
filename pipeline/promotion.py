"""The promotion rule: is the challenger better than the champion, on the same evidence? (pure)

Both models are scored on the same out-of-time holdout. The challenger is promoted only when its primary
metric improves by at least a margin, a paired bootstrap over the holdout rows shows the improvement is not
noise, and the guardrails hold (calibration not worse beyond a tolerance, a sane share flagged at the threshold).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

METRICS = ("average_precision", "roc_auc", "neg_brier")


@dataclass(frozen=True)
class PromotionRule:
    """Parameters of :func:`should_promote` (the ``[promotion]`` table of a use case)."""

    metric: str = "average_precision"
    min_improvement: float = 0.005          # absolute gain of the metric required
    bootstrap_samples: int = 300
    min_win_share: float = 0.95             # share of bootstrap resamples in which the challenger wins
    brier_tolerance: float = 0.002          # challenger Brier may exceed the champion's by at most this
    flagged_share_bounds: tuple[float, float] = (0.001, 0.5)
    seed: int = 13


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


def metric_value(metric: str, y: np.ndarray, score: np.ndarray) -> float:
    """One metric (higher is better): average precision, ROC AUC, or negative Brier score."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    if metric == "average_precision":
        return float(average_precision_score(y, score))
    if metric == "roc_auc":
        return float(roc_auc_score(y, score))
    if metric == "neg_brier":
        return -float(brier_score_loss(y, score))
    raise ValueError(f"unknown promotion metric {metric!r}; use one of {', '.join(METRICS)}")


def summarize(y: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, float]:
    """The metrics the rule and the promotion log report for one model on the holdout."""
    from sklearn.metrics import brier_score_loss

    out = {m: metric_value(m, y, score) for m in ("average_precision", "roc_auc")}
    out["brier"] = float(brier_score_loss(y, score))
    out["flagged_share"] = float(np.mean(score >= threshold))
    out["rows"] = int(len(y))
    return out


def paired_bootstrap(metric: str, y: np.ndarray, champion: np.ndarray, challenger: np.ndarray,
                     samples: int, seed: int) -> dict[str, float]:
    """Resample holdout rows with replacement; the challenger-minus-champion gain in each resample."""
    rng = np.random.default_rng(seed)
    n = len(y)
    gains = []
    for _ in range(samples):
        idx = rng.integers(0, n, n)
        if y[idx].all() or not y[idx].any():
            continue  # a resample with one class has no ranking metric
        gains.append(metric_value(metric, y[idx], challenger[idx]) - metric_value(metric, y[idx], champion[idx]))
    values = np.asarray(gains)
    if values.size == 0:
        return {"samples": 0, "win_share": 0.0, "gain_p05": float("nan"), "gain_p95": float("nan")}
    return {
        "samples": int(values.size),
        "win_share": float(np.mean(values > 0)),
        "gain_p05": float(np.quantile(values, 0.05)),
        "gain_p95": float(np.quantile(values, 0.95)),
    }


def should_promote(y: np.ndarray, challenger: np.ndarray, champion: np.ndarray | None, threshold: float,
                   rule: PromotionRule) -> Decision:
    """Decide whether ``challenger`` scores should replace ``champion`` scores (both on holdout labels ``y``).

    No champion: the first valid model is promoted (guardrails still apply).
    """
    y = np.asarray(y, dtype=bool)
    challenger = np.asarray(challenger, dtype=float)
    if y.all() or not y.any():
        return Decision(False, "the holdout has only one class: no evidence either way",
                        {"rows": int(len(y))})
    new = summarize(y, challenger, threshold)
    low, high = rule.flagged_share_bounds
    guardrails: dict[str, Any] = {
        "flagged_share": new["flagged_share"], "flagged_share_bounds": [low, high],
        "flagged_share_ok": low <= new["flagged_share"] <= high,
    }
    if champion is None:
        if not guardrails["flagged_share_ok"]:
            return Decision(False, f"no champion yet, but the challenger flags {new['flagged_share']:.1%} of the "
                            f"holdout, outside [{low:.1%}, {high:.1%}]", new, guardrails=guardrails)
        return Decision(True, "no champion yet: the first valid model is promoted", new, guardrails=guardrails)

    champion = np.asarray(champion, dtype=float)
    old = summarize(y, champion, threshold)
    metric = rule.metric
    gain = metric_value(metric, y, challenger) - metric_value(metric, y, champion)
    brier_delta = new["brier"] - old["brier"]
    guardrails.update({"brier_delta": brier_delta, "brier_tolerance": rule.brier_tolerance,
                       "brier_ok": brier_delta <= rule.brier_tolerance})
    name = metric.replace("_", " ")
    if gain < rule.min_improvement:
        return Decision(False, f"{name} gain {gain:+.4f} is below the required margin {rule.min_improvement:.4f}",
                        new, old, gain, guardrails=guardrails)
    boot = paired_bootstrap(metric, y, champion, challenger, rule.bootstrap_samples, rule.seed)
    if boot["win_share"] < rule.min_win_share:
        return Decision(False, f"{name} gain {gain:+.4f} is not distinguishable from noise: the challenger wins "
                        f"{boot['win_share']:.0%} of {boot['samples']} bootstrap resamples, "
                        f"{rule.min_win_share:.0%} required", new, old, gain, boot, guardrails)
    if not guardrails["brier_ok"]:
        return Decision(False, f"{name} improves by {gain:+.4f}, but the Brier score worsens by {brier_delta:+.4f} "
                        f"(tolerance {rule.brier_tolerance})", new, old, gain, boot, guardrails)
    if not guardrails["flagged_share_ok"]:
        return Decision(False, f"{name} improves by {gain:+.4f}, but the challenger flags "
                        f"{new['flagged_share']:.1%} of the holdout, outside [{low:.1%}, {high:.1%}]",
                        new, old, gain, boot, guardrails)
    return Decision(True, f"{name} improves by {gain:+.4f} (>= {rule.min_improvement}); the challenger wins "
                    f"{boot['win_share']:.0%} of {boot['samples']} bootstrap resamples; guardrails hold",
                    new, old, gain, boot, guardrails)
