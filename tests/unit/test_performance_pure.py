"""Performance metrics against a fixture computed by hand, and how a date is judged."""

import numpy as np
import pytest

from pipeline.config.loading import load_usecase, with_overrides
from pipeline.monitoring.performance import Performance, compute_performance, judge

LABELS = np.array([True, False, True, False, False])
SCORES = np.array([0.9, 0.8, 0.6, 0.3, 0.1])


def test_metrics_match_the_hand_computation():
    perf = compute_performance(LABELS, SCORES, threshold=0.5)
    # flagged: 0.9, 0.8, 0.6 -> 2 of 3 are positives; both positives are flagged
    assert (perf.label_count, perf.positive_count, perf.flagged_count) == (5, 2, 3)
    assert perf.precision_at_threshold == pytest.approx(2 / 3)
    assert perf.recall_at_threshold == pytest.approx(1.0)
    # AP: recall steps 0.5 at precision 1 (0.9) and 0.5 at precision 2/3 (0.6) -> 0.5 + 1/3
    assert perf.average_precision == pytest.approx(5 / 6)
    # AUC: positive-negative pairs ranked right: 0.9 beats 3, 0.6 beats 2 of 3 -> 5/6
    assert perf.roc_auc == pytest.approx(5 / 6)
    # Brier: (0.1^2 + 0.8^2 + 0.4^2 + 0.3^2 + 0.1^2) / 5
    assert perf.brier == pytest.approx(0.182)


def test_one_class_leaves_ap_and_auc_undefined_not_zero():
    perf = compute_performance(np.array([False] * 4), np.array([0.1, 0.2, 0.7, 0.05]), threshold=0.5)
    assert perf.average_precision is None and perf.roc_auc is None
    assert perf.recall_at_threshold is None and perf.precision_at_threshold == 0.0


def test_nothing_flagged_leaves_precision_undefined():
    perf = compute_performance(LABELS, SCORES, threshold=0.95)
    assert perf.flagged_count == 0 and perf.precision_at_threshold is None and perf.recall_at_threshold == 0.0


def test_mismatched_or_empty_inputs_are_refused():
    with pytest.raises(ValueError, match="no labelled scores"):
        compute_performance(np.array([], dtype=bool), np.array([]), 0.5)
    with pytest.raises(ValueError, match="5 labels but 4 scores"):
        compute_performance(LABELS, SCORES[:4], 0.5)


def _perf(**kw):
    base = dict(
        label_count=1000,
        positive_count=40,
        flagged_count=60,
        threshold=0.1,
        average_precision=0.5,
        roc_auc=0.9,
        brier=0.03,
        precision_at_threshold=0.4,
        recall_at_threshold=0.6,
    )
    return Performance(**{**base, **kw})


def test_judge_needs_enough_labels_and_positives_then_applies_the_floors():
    uc = load_usecase("flight_cancellation")
    uc = with_overrides(
        uc,
        {
            "monitoring.min_labels": 200,
            "monitoring.min_positives": 20,
            "monitoring.min_average_precision_ratio": 0.6,
            "monitoring.min_roc_auc": 0.7,
        },
    )
    assert judge(_perf(), holdout_ap=0.5, uc=uc) == "ok"
    assert judge(_perf(positive_count=19, average_precision=0.01), holdout_ap=0.5, uc=uc) == "insufficient"
    assert judge(_perf(label_count=150), holdout_ap=0.5, uc=uc) == "insufficient"
    assert judge(_perf(average_precision=0.29), holdout_ap=0.5, uc=uc) == "degraded"  # < 0.6 * 0.5
    assert judge(_perf(average_precision=0.31), holdout_ap=0.5, uc=uc) == "ok"
    assert judge(_perf(roc_auc=0.65), holdout_ap=0.5, uc=uc) == "degraded"
