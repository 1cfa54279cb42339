"""Performance metrics against fixtures computed by hand, per task kind, and how a date is judged per kind."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from pipeline.config.loading import load_usecase, with_overrides
from pipeline.model.labels import LabelError
from pipeline.model.registry import ModelVersion
from pipeline.monitoring.performance import (
    Performance,
    assess,
    compute_performance,
    judge,
    kind_performance,
    performance_of_rows,
    performance_record,
)

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
    holdout = {"average_precision": 0.5}
    assert judge(_perf(), holdout, uc) == "ok"
    assert judge(_perf(positive_count=19, average_precision=0.01), holdout, uc) == "insufficient"
    assert judge(_perf(label_count=150), holdout, uc) == "insufficient"
    assert judge(_perf(average_precision=0.29), holdout, uc) == "degraded"  # < 0.6 * 0.5
    assert judge(_perf(average_precision=0.31), holdout, uc) == "ok"
    assert judge(_perf(roc_auc=0.65), holdout, uc) == "degraded"
    assert assess(_perf(average_precision=0.29, roc_auc=0.65), holdout, uc)[1] == [
        "ROC AUC 0.650 < 0.7",
        "average precision 0.290 < 0.6 x holdout 0.500",
    ]


def test_a_version_without_holdout_ap_is_judged_by_the_auc_floor_alone():
    uc = load_usecase("flight_cancellation")
    assert judge(_perf(average_precision=0.01), None, uc) == "ok"
    assert judge(_perf(roc_auc=0.5), {}, uc) == "degraded"


# --- regression -------------------------------------------------------------------------------------------------


def regression_case(**monitoring):
    uc = load_usecase("departure_disruption")
    changes = {"target.kind": "regression", "target.threshold": None, "target.interval": 0.8}
    return with_overrides(uc, {**changes, **{f"monitoring.{k}": v for k, v in monitoring.items()}})


def test_regression_performance_is_mae_rmse_r2_bias_and_interval_coverage_by_hand():
    labels = np.array([10.0, 0.0, 30.0, -5.0])
    predicted = np.array([12.0, 3.0, 20.0, -5.0])
    lower, upper = predicted - 4.0, predicted + 4.0
    perf = kind_performance("regression", labels, predicted, interval=(lower, upper))
    m = perf.metrics
    assert perf.kind == "regression" and perf.label_count == 4
    assert m["mae"] == pytest.approx((2 + 3 + 10 + 0) / 4)
    assert m["rmse"] == pytest.approx(math.sqrt((4 + 9 + 100 + 0) / 4))
    assert m["bias"] == pytest.approx((2 + 3 - 10 + 0) / 4)
    assert m["r2"] == pytest.approx(1 - (113 / 4) / np.var(labels))
    assert m["interval_coverage"] == pytest.approx(3 / 4)  # 30 is outside [16, 24]
    assert m["interval_width"] == pytest.approx(8.0)
    record = performance_record(perf)
    assert record["kind"] == "regression" and record["average_precision"] is None and record["threshold"] is None


def test_regression_without_an_interval_has_no_coverage_and_a_constant_label_no_r2():
    perf = kind_performance("regression", np.array([5.0, 5.0, 5.0]), np.array([4.0, 6.0, 5.0]))
    assert "interval_coverage" not in perf.metrics and "r2" not in perf.metrics  # undefined: left out, never 0
    assert perf.metrics["mae"] == pytest.approx(2 / 3)


def _regression_perf(mae, coverage=None, rows=500):
    metrics = {"rows": rows, "mae": mae, "rmse": mae * 1.3, "bias": 0.0}
    if coverage is not None:
        metrics["interval_coverage"] = coverage
    return Performance(label_count=rows, kind="regression", metrics=metrics)


def test_regression_is_degraded_when_mae_exceeds_the_ratio_times_the_holdout_mae():
    uc = regression_case(max_mae_ratio=1.5, min_labels=200)
    holdout = {"mae": 10.0, "interval_coverage": 0.8}
    assert judge(_regression_perf(14.9, 0.8), holdout, uc) == "ok"
    status, reasons = assess(_regression_perf(15.1, 0.8), holdout, uc)
    assert status == "degraded" and reasons == ["MAE 15.100 > 1.5 x holdout 10.000"]
    assert judge(_regression_perf(40.0, rows=150), holdout, uc) == "insufficient"  # min_labels only
    assert judge(_regression_perf(40.0), {}, uc) == "ok"  # no holdout MAE: nothing to compare with


def test_regression_is_degraded_when_the_interval_covers_less_than_declared_minus_the_shortfall():
    uc = regression_case(max_coverage_shortfall=0.15)
    holdout = {"mae": 10.0, "interval_coverage": 0.79}
    assert judge(_regression_perf(10.0, 0.66), holdout, uc) == "ok"  # 0.8 - 0.15 = 0.65
    status, reasons = assess(_regression_perf(10.0, 0.64), holdout, uc)
    assert status == "degraded" and reasons == ["interval coverage 0.64 < 0.8 - 0.15 (holdout 0.79)"]


# --- multiclass -------------------------------------------------------------------------------------------------


def multiclass_case(**monitoring):
    uc = load_usecase("departure_disruption")
    changes = {"target.kind": "multiclass", "target.threshold": None}
    return with_overrides(uc, {**changes, **{f"monitoring.{k}": v for k, v in monitoring.items()}})


def test_multiclass_performance_reads_the_probabilities_in_the_versions_class_order():
    # the version's classes are not in sorted order: column j is the probability of classes[j]
    classes = ("on_time", "late", "cancelled")
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    labels = np.array(["on_time", "late", "cancelled", "late"], dtype=object)
    perf = kind_performance("multiclass", labels, proba, classes=classes)
    m = perf.metrics
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.7, 0.8, 0.5, 0.3])))
    assert m["accuracy"] == pytest.approx(3 / 4)  # the last row is predicted on_time
    assert m["class_recall"] == {"on_time": 1.0, "late": 0.5, "cancelled": 1.0}
    # F1: on_time 2/3 (precision 1/2, recall 1), late 2/3 (1, 1/2), cancelled 1
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert m["class_counts"] == {"on_time": 1, "late": 2, "cancelled": 1}


def test_a_label_class_the_version_never_predicts_counts_with_probability_zero():
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    labels = np.array(["a", "b", "c"], dtype=object)
    perf = kind_performance("multiclass", labels, proba, classes=("a", "b"))
    assert perf.metrics["class_counts"] == {"a": 1, "b": 1, "c": 1}
    assert perf.metrics["class_recall"]["c"] == 0.0
    assert perf.metrics["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 1e-15])))


def _multiclass_perf(macro_f1=0.6, log_loss=0.8, counts=None, rows=600):
    metrics = {
        "rows": rows,
        "macro_f1": macro_f1,
        "log_loss": log_loss,
        "class_counts": counts or {"on_time": 400, "late": 150, "cancelled": 50},
    }
    return Performance(label_count=rows, kind="multiclass", metrics=metrics)


def test_multiclass_needs_labels_of_every_class_then_applies_the_f1_and_log_loss_floors():
    uc = multiclass_case(min_class_labels=10, min_macro_f1_ratio=0.75, max_log_loss_ratio=1.5)
    holdout = {"macro_f1": 0.6, "log_loss": 0.8}
    assert judge(_multiclass_perf(), holdout, uc) == "ok"
    thin = _multiclass_perf(counts={"on_time": 500, "late": 91, "cancelled": 9})
    status, reasons = assess(thin, holdout, uc)
    assert status == "insufficient" and reasons == ["class cancelled has 9 labels, 10 needed of every class"]
    assert judge(_multiclass_perf(macro_f1=0.46, log_loss=1.19), holdout, uc) == "ok"  # floors 0.45 and 1.2
    status, reasons = assess(_multiclass_perf(macro_f1=0.44, log_loss=1.21), holdout, uc)
    assert status == "degraded"
    assert reasons == ["macro F1 0.440 < 0.75 x holdout 0.600", "log loss 1.2100 > 1.5 x holdout 0.8000"]


# --- from the stored rows ---------------------------------------------------------------------------------------


def _version(kind, classes=None):
    return ModelVersion("uc", "v1", "champion", "/a", "0" * 64, "1.9.1", None, {}, {}, kind, classes)


def test_stored_multiclass_rows_and_integer_labels_become_the_metrics_of_the_versions_classes():
    uc = multiclass_case()
    rows = [
        SimpleNamespace(class_probabilities=[0.7, 0.2, 0.1], label=0),
        SimpleNamespace(class_probabilities=[0.1, 0.8, 0.1], label=1),
        SimpleNamespace(class_probabilities=[0.2, 0.2, 0.6], label=2),
    ]
    perf = performance_of_rows(uc, rows, _version("multiclass", ("0", "1", "2")))
    assert perf.metrics["accuracy"] == 1.0 and perf.metrics["class_counts"] == {"0": 1, "1": 1, "2": 1}


def test_stored_regression_rows_use_the_interval_only_when_every_row_has_one():
    uc = regression_case()
    with_interval = [
        SimpleNamespace(score=1.0, prediction_lower=0.0, prediction_upper=2.0, label=1.5),
        SimpleNamespace(score=3.0, prediction_lower=2.0, prediction_upper=4.0, label=5.0),
    ]
    perf = performance_of_rows(uc, with_interval, _version("regression"))
    assert perf.metrics["interval_coverage"] == 0.5 and perf.metrics["mae"] == pytest.approx(1.25)
    without = [SimpleNamespace(score=1.0, prediction_lower=None, prediction_upper=None, label=1.5)] * 2
    assert "interval_coverage" not in performance_of_rows(uc, without, _version("regression")).metrics


def test_a_non_numeric_regression_label_is_refused_naming_the_labels_query():
    uc = regression_case()
    rows = [SimpleNamespace(score=1.0, prediction_lower=None, prediction_upper=None, label="late")] * 2
    with pytest.raises(LabelError, match=r"departure_disruption: the labels \(sql/.*labels.sql\).*numeric label"):
        performance_of_rows(uc, rows, _version("regression"))
