"""Task kinds without a database: labels checked per kind, one predict_output for all kinds, metrics, the
conformal interval, and the promotion rule on multiclass and regression outputs."""

import tomllib

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline.config.loading import UseCaseError, parse_usecase
from pipeline.config.paths import project_root
from pipeline.model.labels import LabelError, coerce_labels
from pipeline.model.metrics import kind_metrics, metric_value
from pipeline.model.predict import ScoringError, output_matrix, predict_output
from pipeline.model.promotion import should_promote
from pipeline.model.train import train_model
from pipeline.scoring.stream import SCORES_SCHEMAS, predict_arrow


def _usecase(kind, **target):
    path = project_root() / "usecases" / "departure_disruption.toml"
    raw = tomllib.loads(path.read_text())
    raw["target"] = {"name": "outcome", "kind": kind, **target}
    raw["model"]["hyperparameters"] = {"max_iter": 30}
    return parse_usecase(raw, path)


def _frame(uc, n, seed, label):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.normal(size=n) for c in uc.features.numeric})
    frame["carrier"] = rng.choice(["UA", "AA", "DL"], n)
    frame["origin"] = rng.choice(["EWR", "JFK", "LGA"], n)
    frame["entity_id"] = [f"E{i}" for i in range(n)]
    frame["score_date"] = pd.Timestamp("2013-05-01")
    frame["label"] = label(frame, rng)
    return frame


def _delay_minutes(frame, rng):
    return 20 * frame["wind_speed"] + 5 * (frame["carrier"] == "UA") + rng.normal(scale=5, size=len(frame))


def _outcome(frame, rng):
    minutes = _delay_minutes(frame, rng)
    return np.where(minutes < -10, "on_time", np.where(minutes < 15, "late", "very_late"))


def test_a_binary_label_may_be_boolean_or_0_1_and_anything_else_is_named():
    assert coerce_labels("binary", pd.Series([0, 1, 1]), "x").tolist() == [False, True, True]
    assert coerce_labels("binary", pd.Series([True, False]), "x").tolist() == [True, False]
    with pytest.raises(LabelError, match=r"uc labels: a binary use case needs a boolean \(or 0/1\) label; found "):
        coerce_labels("binary", pd.Series(["yes", "no"]), "uc labels")
    with pytest.raises(LabelError, match="needs a boolean"):
        coerce_labels("binary", pd.Series([0, 2]), "uc labels")


def test_multiclass_labels_are_compared_as_strings_and_numbers_must_be_whole():
    assert coerce_labels("multiclass", pd.Series([3, 1, 3]), "x").tolist() == ["3", "1", "3"]
    assert coerce_labels("multiclass", pd.Series([2.0, 1.0]), "x").tolist() == ["2", "1"]
    with pytest.raises(LabelError, match='kind = "regression"'):
        coerce_labels("multiclass", pd.Series([0.5, 1.0]), "x")


def test_a_regression_label_must_be_numeric_and_no_label_may_be_null():
    assert coerce_labels("regression", pd.Series([1, 2.5]), "x").tolist() == [1.0, 2.5]
    with pytest.raises(LabelError, match="needs a numeric label"):
        coerce_labels("regression", pd.Series(["1", "2"]), "x")
    with pytest.raises(LabelError, match="1 labels are null"):
        coerce_labels("regression", pd.Series([1.0, None]), "x")


def test_a_threshold_on_a_regression_use_case_is_refused_naming_the_key():
    with pytest.raises(UseCaseError, match=r"'target.threshold' may be set on binary use cases only"):
        _usecase("regression", threshold=0.5)
    with pytest.raises(UseCaseError, match=r"'target.interval' may be set on regression use cases only"):
        _usecase("multiclass", interval=0.8)
    with pytest.raises(UseCaseError, match=r"'promotion.metric' must be one of neg_mae, neg_rmse, r2"):
        raw_uc = _usecase("regression")
        raw = raw_uc.model_dump(mode="python", exclude_none=True)
        raw["promotion"]["metric"] = "average_precision"
        parse_usecase(raw, raw_uc.path)


@pytest.fixture(scope="module")
def regression():
    uc = _usecase("regression", interval=0.8)
    result = train_model(_frame(uc, 3000, 1, _delay_minutes), _frame(uc, 1000, 2, _delay_minutes), uc)
    return uc, result


def test_a_regression_trains_with_an_interval_that_covers_about_its_declared_share(regression):
    uc, result = regression
    m = result.metrics
    assert m["mae"] < 8 and m["r2"] > 0.8  # the signal is 20 * wind_speed against noise of 5
    assert 0.72 <= m["interval_coverage"] <= 0.9
    out = predict_output(result.model, _frame(uc, 50, 3, _delay_minutes), uc)
    assert out.kind == "regression" and out.lower is not None and out.upper is not None
    assert np.all(out.lower <= out.score) and np.all(out.score <= out.upper)


def test_a_regression_chunk_is_written_back_with_its_interval(regression):
    uc, result = regression
    frame = _frame(uc, 20, 4, _delay_minutes)
    table = pa.Table.from_pandas(frame[["entity_id", *uc.feature_columns]], preserve_index=False)
    batch = predict_arrow(result.model, table, uc, None)
    assert batch.schema == SCORES_SCHEMAS["regression"]
    upper = np.asarray(batch.column("prediction_upper"))
    assert np.all(upper > np.asarray(batch.column("score")))


@pytest.fixture(scope="module")
def multiclass():
    uc = _usecase("multiclass")
    result = train_model(_frame(uc, 3000, 1, _outcome), _frame(uc, 1000, 2, _outcome), uc)
    return uc, result


def test_a_multiclass_model_predicts_the_most_probable_class_and_every_probability(multiclass):
    uc, result = multiclass
    assert result.metrics["macro_f1"] > 0.7 and set(result.metrics["class_recall"]) == {"on_time", "late", "very_late"}
    out = predict_output(result.model, _frame(uc, 40, 5, _outcome), uc)
    assert out.classes == ("late", "on_time", "very_late")
    assert np.allclose(out.class_probabilities.sum(axis=1), 1.0)
    assert np.array_equal(out.score, out.class_probabilities.max(axis=1))
    assert list(out.predicted_class) == [out.classes[i] for i in out.class_probabilities.argmax(axis=1)]
    table = pa.Table.from_pandas(_frame(uc, 10, 6, _outcome)[["entity_id", *uc.feature_columns]], preserve_index=False)
    batch = predict_arrow(result.model, table, uc, None)
    assert batch.schema == SCORES_SCHEMAS["multiclass"]
    assert [len(p) for p in batch.column("class_probabilities").to_pylist()] == [3] * 10


def test_probabilities_that_do_not_sum_to_one_are_refused(multiclass):
    uc, result = multiclass

    class Broken:
        classes_ = result.model.classes_

        def predict_proba(self, features):
            return np.full((len(features), 3), 0.5)

    with pytest.raises(ScoringError, match="do not sum to 1"):
        predict_output(Broken(), _frame(uc, 5, 7, _outcome), uc)


def test_class_probabilities_align_to_another_class_order_with_zero_for_unknown_classes(multiclass):
    uc, result = multiclass
    out = predict_output(result.model, _frame(uc, 5, 8, _outcome), uc)
    aligned = output_matrix(out, ("very_late", "cancelled", "on_time", "late"))
    assert np.array_equal(aligned[:, 1], np.zeros(5))
    assert np.array_equal(aligned[:, 0], out.class_probabilities[:, 2])


def test_regression_metrics_match_hand_computed_values():
    m = kind_metrics("regression", [1.0, 2.0, 4.0], [2.0, 2.0, 2.0], interval=([0, 1, 1], [3, 3, 3]))
    assert m["mae"] == pytest.approx(1.0) and m["rmse"] == pytest.approx(np.sqrt(5 / 3))
    assert m["bias"] == pytest.approx(-1 / 3) and m["interval_coverage"] == pytest.approx(2 / 3)
    assert metric_value("neg_mae", np.array([1.0, 2.0, 4.0]), np.array([2.0, 2.0, 2.0])) == pytest.approx(-1.0)


def test_a_clearly_better_regression_challenger_is_promoted_and_an_equal_one_is_not():
    uc = _usecase("regression")
    rng = np.random.default_rng(0)
    y = rng.normal(size=2000) * 10
    good, poor = y + rng.normal(scale=2, size=2000), y + rng.normal(scale=6, size=2000)
    better = should_promote(y, good, poor, None, uc.promotion, "regression")
    assert better.promote and "mae improves" in better.reason and better.bootstrap["win_share"] >= 0.95
    same = should_promote(y, poor, poor, None, uc.promotion, "regression")
    assert not same.promote and "below the required margin" in same.reason


def test_a_better_multiclass_challenger_is_promoted_on_log_loss():
    uc = _usecase("multiclass")
    rng = np.random.default_rng(1)
    classes = ("a", "b", "c")
    y = rng.choice(classes, 3000)
    truth = np.stack([(y == c).astype(float) for c in classes], axis=1)
    sharp = 0.8 * truth + 0.2 / 3
    vague = 0.4 * truth + 0.6 / 3
    decision = should_promote(y, sharp, vague, None, uc.promotion, "multiclass", classes)
    assert decision.promote and "log loss improves" in decision.reason
    assert decision.challenger_metrics["log_loss"] < decision.champion_metrics["log_loss"]
    worse = should_promote(y, vague, sharp, None, uc.promotion, "multiclass", classes)
    assert not worse.promote


def test_log_loss_reads_the_probability_columns_in_the_order_of_the_classes_given():
    from sklearn.metrics import log_loss

    y = np.array(["2", "10", "2", "10"], dtype=object)
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])  # columns: "2", then "10"
    expected = log_loss(["2", "10", "2", "10"], proba[:, [1, 0]], labels=["10", "2"])
    assert kind_metrics("multiclass", y, proba, classes=("2", "10"))["log_loss"] == pytest.approx(expected)
    assert metric_value("neg_log_loss", y, proba, ("2", "10")) == pytest.approx(-expected)


def test_a_model_trained_on_other_features_than_declared_now_is_refused_naming_the_difference():
    from pipeline.model.predict import FeatureError, check_trained_features

    uc = _usecase("regression")
    trained = {c: {"kind": "categorical"} for c in uc.features.categorical} | {
        c: {"kind": "numeric"} for c in uc.features.numeric
    }
    check_trained_features(trained, uc, "model v1")  # the same declaration: nothing to say
    older = {k: v for k, v in trained.items() if k != "visib"} | {"plane_age": {"kind": "numeric"}}
    older["origin"] = {"kind": "numeric"}
    with pytest.raises(FeatureError) as refused:
        check_trained_features(older, uc, "model v1 (champion)")
    assert str(refused.value) == (
        "departure_disruption: model v1 (champion) was trained on other features than [features] now declares "
        "(added: visib; removed: plane_age; categorical/numeric changed: origin); train a model on the new "
        "declaration (batchscore train, or a retraining) before it scores"
    )
