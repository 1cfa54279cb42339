"""Drift metrics from counts: PSI by hand, shifted vs unchanged features, small batches not judged."""

import numpy as np
import pandas as pd
import pytest

from pipeline.config.loading import load_usecase, with_overrides
from pipeline.config.usecase import MonitoringSpec as MonitoringConfig
from pipeline.model.reference import (
    MissingReferenceError,
    build_reference,
    categorical_reference,
    check_reference,
    numeric_reference,
)
from pipeline.monitoring.drift import compare_batch, compare_categorical, compare_numeric, population_stability_index

CFG = MonitoringConfig(psi_threshold=0.25, min_rows=200)


def bucket_counts(values, edges):  # independent of pipeline.drift.numeric_counts
    """What Postgres' width_bucket(x, edges) grouping returns, computed with numpy (None: nulls)."""
    values = np.asarray(values, dtype=float)
    present = values[~np.isnan(values)]
    buckets = np.searchsorted(np.asarray(edges), present, side="right")
    counts = {int(b): int(n) for b, n in zip(*np.unique(buckets, return_counts=True), strict=True)}
    nulls = int(np.isnan(values).sum())
    return {**counts, **({None: nulls} if nulls else {})}


def test_psi_matches_the_formula_computed_by_hand():
    # (0.9 - 0.5) ln(0.9 / 0.5) + (0.1 - 0.5) ln(0.1 / 0.5) = 0.4 * 0.58779 + 0.4 * 1.60944
    assert population_stability_index([0.5, 0.5], [0.9, 0.1]) == pytest.approx(0.878890, abs=1e-6)
    assert population_stability_index([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0


def test_psi_of_an_empty_bin_stays_finite():
    assert np.isfinite(population_stability_index([0.5, 0.5, 0.0], [0.4, 0.4, 0.2]))


def test_psi_refuses_bins_that_do_not_line_up():
    with pytest.raises(ValueError, match="same bins"):
        population_stability_index([0.5, 0.5], [0.2, 0.3, 0.5])


def test_numeric_reference_bins_are_left_closed_quantile_bins():
    ref = numeric_reference(pd.Series([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10, None, None]), bins=5)
    assert ref["null_rate"] == pytest.approx(2 / 12)
    assert ref["rows"] == 10
    assert ref["edges"] == [pytest.approx(2.8), pytest.approx(4.6), pytest.approx(6.4), pytest.approx(8.2)]
    assert ref["shares"] == [pytest.approx(0.2)] * 5 and sum(ref["shares"]) == pytest.approx(1.0)


def test_a_shifted_numeric_feature_drifts_and_an_unchanged_one_does_not():
    rng = np.random.default_rng(7)
    ref = numeric_reference(pd.Series(rng.normal(0, 1, 20_000)), bins=10)
    same = compare_numeric("x", ref, bucket_counts(rng.normal(0, 1, 2_000), ref["edges"]), CFG)
    shifted = compare_numeric("x", ref, bucket_counts(rng.normal(1.5, 1, 2_000), ref["edges"]), CFG)
    psi_same = next(m for m in same if m.metric == "psi")
    psi_shifted = next(m for m in shifted if m.metric == "psi")
    assert psi_same.status == "ok" and psi_same.value < 0.05
    assert psi_shifted.status == "drift" and psi_shifted.value > 1.0
    assert psi_shifted.threshold == 0.25 and psi_shifted.sample_rows == 2_000 and psi_shifted.reference_rows == 20_000


def test_a_batch_smaller_than_min_rows_is_measured_but_not_judged():
    rng = np.random.default_rng(3)
    ref = numeric_reference(pd.Series(rng.normal(0, 1, 5_000)), bins=10)
    tiny = compare_numeric("x", ref, bucket_counts(rng.normal(5, 1, 50), ref["edges"]), CFG)
    assert {m.status for m in tiny} == {"insufficient"}
    assert next(m for m in tiny if m.metric == "psi").value > 1.0


def test_a_null_rate_jump_is_flagged():
    ref = numeric_reference(pd.Series(np.arange(1000, dtype=float)), bins=10)
    values = np.where(np.arange(1000) % 2 == 0, np.nan, np.arange(1000, dtype=float))
    metrics = {m.metric: m for m in compare_numeric("x", ref, bucket_counts(values, ref["edges"]), CFG)}
    assert metrics["null_rate_delta"].value == pytest.approx(0.5) and metrics["null_rate_delta"].status == "drift"


def test_categorical_drift_counts_unseen_categories_and_pools_rare_ones():
    ref = categorical_reference(pd.Series(["a"] * 500 + ["b"] * 499 + ["rare"]))
    assert ref["categories"] == ["a", "b"] and ref["shares"][-1] == pytest.approx(0.001)
    counts = {"a": 250, "b": 250, "new": 100, None: 10}
    metrics = {m.metric: m for m in compare_categorical("c", ref, counts, {"a", "b", "rare"}, CFG)}
    unseen = metrics["unseen_share"]
    assert unseen.value == pytest.approx(100 / 600, abs=1e-6) and unseen.status == "drift"
    assert metrics["psi"].status == "drift"
    unchanged = {m.metric: m for m in compare_categorical("c", ref, {"a": 300, "b": 300}, {"a", "b"}, CFG)}
    assert unchanged["psi"].status == "ok" and unchanged["unseen_share"].value == 0.0


def test_ignored_features_are_not_compared():
    uc = load_usecase("flight_cancellation")
    assert "day_of_week" in uc.monitoring.ignore_features
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {c: rng.normal(0, 1, 500) for c in uc.features.numeric}
        | {c: rng.choice(["x", "y"], 500) for c in uc.features.categorical}
    )
    reference = build_reference(frame, rng.uniform(0, 1, 500), uc)
    numeric = {c: bucket_counts(frame[c], reference["numeric"][c]["edges"]) for c in uc.features.numeric}
    categorical = {c: frame[c].value_counts().to_dict() for c in uc.features.categorical}
    features = {m.feature for m in compare_batch(reference, numeric, categorical, {}, uc)}
    assert features == set(uc.feature_columns) - set(uc.monitoring.ignore_features)
    everything = with_overrides(uc, {"monitoring.ignore_features": []})
    compared = {m.feature for m in compare_batch(reference, numeric, categorical, {}, everything)}
    assert compared == set(uc.feature_columns)


def test_a_version_without_reference_gets_an_error_that_says_how_to_build_it():
    uc = load_usecase("flight_cancellation")
    with pytest.raises(MissingReferenceError, match="batchscore monitor --reference v3"):
        check_reference(None, uc, "v3")


# --- the drift of a model's output, per task kind -------------------------------------------------------------


def _frame(uc, rows, seed=3):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {c: rng.normal(0, 1, rows) for c in uc.features.numeric}
        | {c: rng.choice(["x", "y"], rows) for c in uc.features.categorical}
    )


def test_regression_scores_far_outside_zero_to_one_are_binned_by_their_own_quantiles():
    from pipeline.monitoring.drift import numeric_counts

    uc = load_usecase("departure_disruption")
    rng = np.random.default_rng(5)
    minutes = rng.normal(12.0, 40.0, 5000)  # predicted delay in minutes: negative to hundreds
    score = build_reference(_frame(uc, 5000), minutes, uc)["score"]
    assert len(score["edges"]) == uc.monitoring.bins - 1 and score["edges"][0] < -20 and score["edges"][-1] > 50
    assert score["shares"] == pytest.approx([0.1] * uc.monitoring.bins, abs=0.002)
    same = compare_numeric("score", score, numeric_counts(pd.Series(rng.normal(12, 40, 3000)), score["edges"]), CFG)
    later = numeric_counts(pd.Series(rng.normal(45, 40, 3000)), score["edges"])  # half an hour later on average
    moved = compare_numeric("score", score, later, CFG)
    assert same[0].status == "ok" and same[0].value < 0.05
    assert moved[0].status == "drift" and moved[0].value > 0.5
    beyond = numeric_counts(pd.Series([-500.0, 900.0]), score["edges"])  # outside every edge: the end bins
    assert beyond == {0: 1, uc.monitoring.bins - 1: 1}


def test_a_multiclass_reference_records_the_holdouts_predicted_class_shares():
    uc = load_usecase("departure_disruption")
    predicted = np.array(["on_time"] * 70 + ["late"] * 25 + ["cancelled"] * 5, dtype=object)
    reference = build_reference(_frame(uc, 100), np.full(100, 0.6), uc, predicted)
    assert reference["predicted_class"]["categories"] == ["cancelled", "late", "on_time"]
    assert reference["predicted_class"]["shares"] == pytest.approx([0.05, 0.25, 0.70, 0.0])
    assert "predicted_class" not in build_reference(_frame(uc, 100), np.full(100, 0.6), uc)  # binary, regression


def test_predicted_class_shares_drift_when_the_model_starts_predicting_another_mix():
    from pipeline.monitoring.drift import compare_shares

    uc = load_usecase("departure_disruption")
    predicted = np.array(["on_time"] * 700 + ["late"] * 250 + ["cancelled"] * 50, dtype=object)
    ref = build_reference(_frame(uc, 1000), np.full(1000, 0.6), uc, predicted)["predicted_class"]
    same = compare_shares("predicted_class", ref, {"on_time": 690, "late": 260, "cancelled": 50}, CFG)
    shifted = compare_shares("predicted_class", ref, {"on_time": 350, "late": 550, "cancelled": 100}, CFG)
    assert [(m.metric, m.status) for m in same] == [("psi", "ok")] and same[0].value < 0.01
    assert shifted[0].status == "drift" and shifted[0].value > 0.25
    new_class = compare_shares("predicted_class", ref, {"on_time": 500, "diverted": 500}, CFG)
    assert new_class[0].status == "drift"  # a class the holdout never saw predicted lands in the last bin
    tiny = compare_shares("predicted_class", ref, {"on_time": 10, "late": 90}, CFG)
    assert tiny[0].status == "insufficient"  # fewer than min_rows
