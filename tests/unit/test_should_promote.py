"""should_promote: the champion/challenger rule on known scores."""

import numpy as np
import pytest

from pipeline.model.promotion import PromotionRule, metric_value, paired_bootstrap, should_promote

RULE = PromotionRule(
    min_improvement=0.01,
    bootstrap_samples=200,
    min_win_share=0.95,
    brier_tolerance=0.002,
    flagged_share_bounds=(0.01, 0.5),
)


@pytest.fixture(scope="module")
def holdout():
    rng = np.random.default_rng(0)
    n = 4000
    signal = rng.normal(size=n)
    y = (signal + rng.normal(scale=1.0, size=n)) > 1.6
    strong = 1 / (1 + np.exp(-(2.0 * signal - 3.5)))  # sees the signal clearly
    weak = 1 / (1 + np.exp(-(0.6 * signal + rng.normal(scale=1.0, size=n) - 2.6)))  # a noisy view of it
    return y, strong, weak


def test_a_clearly_better_challenger_is_promoted(holdout):
    y, strong, weak = holdout
    d = should_promote(y, strong, weak, 0.3, RULE)
    assert d.promote, d.reason
    assert d.improvement > 0.05 and d.bootstrap["win_share"] >= 0.95
    assert "improves by" in d.reason


def test_an_equal_challenger_is_kept_out(holdout):
    y, strong, _ = holdout
    d = should_promote(y, strong.copy(), strong, 0.3, RULE)
    assert not d.promote and "below the required margin" in d.reason and d.improvement == 0


def test_a_worse_challenger_is_kept_out(holdout):
    y, strong, weak = holdout
    d = should_promote(y, weak, strong, 0.3, RULE)
    assert not d.promote and d.improvement < 0


def test_a_better_challenger_that_breaks_calibration_is_kept_out(holdout):
    y, strong, _ = holdout
    rng = np.random.default_rng(1)
    logit = np.log(strong / (1 - strong))
    calibrated_but_noisier = 1 / (1 + np.exp(-(logit + rng.normal(scale=0.8, size=len(y)))))
    inflated = strong**0.35  # the same ranking as `strong`, far too high probabilities
    d = should_promote(y, inflated, calibrated_but_noisier, 0.3, RULE)
    assert (
        metric_value("average_precision", y, inflated)
        > metric_value("average_precision", y, calibrated_but_noisier) + 0.01
    )
    assert not d.promote and "Brier score worsens" in d.reason
    assert d.guardrails["brier_ok"] is False


def test_a_challenger_flagging_everything_is_kept_out(holdout):
    y, strong, weak = holdout
    d = should_promote(y, strong, weak, 0.0001, RULE)  # at this threshold it flags every row
    assert not d.promote and "of the holdout, outside [1.0%, 50.0%]" in d.reason


def test_a_noise_level_gain_is_kept_out():
    rng = np.random.default_rng(5)
    n = 600
    y = rng.random(n) < 0.2
    base = np.clip(0.2 + 0.15 * y + rng.normal(scale=0.2, size=n), 0.001, 0.999)
    # the challenger is the champion plus random jitter: find jitter that happens to come out ahead
    for seed in range(100):
        jitter = np.random.default_rng(seed).normal(scale=0.03, size=n)
        noisy = np.clip(base + jitter, 0.001, 0.999)
        gain = metric_value("average_precision", y, noisy) - metric_value("average_precision", y, base)
        if gain > 0:
            break
    rule = PromotionRule(min_improvement=0.0, bootstrap_samples=300, min_win_share=0.95)
    d = should_promote(y, noisy, base, 0.3, rule)
    assert gain > 0
    assert not d.promote and "not distinguishable from noise" in d.reason


def test_without_a_champion_the_first_valid_model_is_promoted(holdout):
    y, strong, _ = holdout
    d = should_promote(y, strong, None, 0.3, RULE)
    assert d.promote and d.reason.startswith("no champion yet")
    assert d.champion_metrics is None


def test_the_bootstrap_is_reproducible_and_paired(holdout):
    y, strong, weak = holdout
    a = paired_bootstrap("average_precision", y, weak, strong, 50, 1)
    assert a == paired_bootstrap("average_precision", y, weak, strong, 50, 1)
    assert paired_bootstrap("average_precision", y, strong, strong, 50, 1)["win_share"] == 0.0


def test_an_unknown_metric_is_named():
    with pytest.raises(ValueError, match="unknown promotion metric 'f1'"):
        metric_value("f1", np.array([True, False]), np.array([0.5, 0.5]))
