import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from benchmarks.bench_scoring import parse_copy_chunk
from pipeline.config.loading import load_usecase
from pipeline.model.estimator import make_pipeline
from pipeline.model.predict import FeatureError, ScoringError, model_frame, probabilities
from pipeline.model.train import evaluate, train_model
from pipeline.scoring.stream import predict_arrow


@pytest.fixture(scope="module")
def uc():
    return load_usecase("flight_cancellation")


def test_evaluate_matches_metrics_computed_by_hand():
    y = np.array([1, 0, 1, 0, 0], dtype=bool)
    s = np.array([0.9, 0.8, 0.4, 0.2, 0.1])
    m = evaluate(y, s, threshold=0.5)
    assert m["rows"] == 5 and m["positives"] == 2
    assert m["base_rate"] == pytest.approx(0.4)
    # flagged: 0.9 (tp), 0.8 (fp) -> precision 1/2, recall 1/2
    assert m["precision_at_threshold"] == pytest.approx(0.5)
    assert m["recall_at_threshold"] == pytest.approx(0.5)
    assert m["flagged_share"] == pytest.approx(0.4)
    # brier: mean of (0.1^2, 0.8^2, 0.6^2, 0.2^2, 0.1^2)
    assert m["brier"] == pytest.approx((0.01 + 0.64 + 0.36 + 0.04 + 0.01) / 5)
    # ranking: positives at ranks 1 and 3 -> AP = (1/1 + 2/3) / 2; AUC = 5 of 6 pairs ordered
    assert m["average_precision"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["roc_auc"] == pytest.approx(5 / 6)


def test_evaluate_omits_ranking_metrics_when_one_class_only():
    m = evaluate(np.zeros(3, dtype=bool), np.array([0.1, 0.2, 0.3]), 0.5)
    assert "average_precision" not in m and m["positives"] == 0


def test_parse_copy_chunk_keeps_quoted_commas_and_reads_nulls(uc):
    columns = ["entity_id", *uc.feature_columns]
    values = ['"UA1,545-EWR"', "UA", "EWR", '"IAH"'] + ["\\N"] * len(uc.features.numeric)
    frame = parse_copy_chunk([(",".join(values) + "\n").encode()], columns, uc)
    assert frame.loc[0, "entity_id"] == "UA1,545-EWR"
    assert frame.loc[0, "dest"] == "IAH"
    assert frame[list(uc.features.numeric)].isna().all(axis=None)


def _synthetic(uc, n, seed):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.normal(size=n) for c in uc.features.numeric})
    frame["carrier"] = rng.choice(["UA", "AA", "DL"], n)
    frame["origin"] = rng.choice(["EWR", "JFK", "LGA"], n)
    frame["dest"] = rng.choice(["IAH", "MIA", "ORD"], n)
    frame["visib"] = frame["visib"] * 3
    frame["label"] = (frame["visib"] + rng.normal(scale=0.5, size=n)) < -2
    frame["entity_id"] = [f"E{i}" for i in range(n)]
    return frame


def test_model_learns_a_planted_signal_and_is_reproducible(uc):
    train, holdout = _synthetic(uc, 4000, 1), _synthetic(uc, 2000, 2)
    first = train_model(train, holdout, uc)
    second = train_model(train, holdout, uc)
    assert first.metrics["roc_auc"] > 0.9
    assert first.metrics == second.metrics


def test_unseen_and_missing_categories_still_score(uc):
    train, holdout = _synthetic(uc, 3000, 3), _synthetic(uc, 50, 4)
    model = train_model(train, holdout, uc).model
    holdout.loc[:9, "carrier"] = "ZZ"
    holdout.loc[10:19, "dest"] = np.nan
    out = predict_arrow(
        model,
        pa.Table.from_pandas(holdout[["entity_id", *uc.feature_columns]], preserve_index=False),
        uc,
        threshold=0.5,
    )
    scores = out.column("score").to_numpy()
    assert out.num_rows == 50 and ((scores >= 0) & (scores <= 1)).all()
    assert out.column("predicted_label").to_pylist() == (scores >= 0.5).tolist()


def test_scoring_refuses_probabilities_outside_0_1(uc):
    class Broken:
        def predict_proba(self, x):
            return np.column_stack([np.zeros(len(x)), np.full(len(x), np.nan)])

    frame = _synthetic(uc, 3, 5)
    with pytest.raises(ScoringError, match="outside"):
        probabilities(Broken(), frame, uc)


def test_model_frame_reports_missing_feature_columns(uc):
    with pytest.raises(FeatureError, match="feature columns missing from the frame: carrier, dest, day_of_week"):
        model_frame(pd.DataFrame({"origin": ["EWR"]}), uc)


def test_pipeline_splits_on_categories_as_categories(uc):
    # the fitted booster marks exactly the declared categoricals as categorical, and learns a label that one
    # category carries alone
    rng = np.random.default_rng(5)
    train = _synthetic(uc, 3000, 5)
    train["carrier"] = rng.choice(["AA", "DL", "UA"], len(train))
    train["label"] = train["carrier"] == "DL"
    pipe = make_pipeline(uc).fit(model_frame(train, uc), train["label"])
    booster = pipe.named_steps["model"]
    assert booster.is_categorical_.tolist() == [True] * len(uc.features.categorical) + [False] * len(
        uc.features.numeric
    )
    probe = train.head(3).assign(carrier=["AA", "DL", "UA"])
    proba = probabilities(pipe, probe, uc)
    assert proba[1] > 0.9 and proba[0] < 0.1 and proba[2] < 0.1


def test_rechunk_cuts_arrow_batches_of_any_size_into_exact_chunks():
    import pyarrow as pa

    from pipeline.scoring.stream import rechunk

    batches = [pa.record_batch({"x": list(range(a, b))}) for a, b in ((0, 7), (7, 7), (7, 30), (30, 31))]
    chunks = list(rechunk(iter(batches), 10))
    assert [c.num_rows for c in chunks] == [10, 10, 10, 1]
    assert [v for c in chunks for v in c.column("x").to_pylist()] == list(range(31))


def test_arrow_and_pandas_chunks_get_the_same_scores(uc):
    import pyarrow as pa

    from pipeline.scoring.stream import SCORES_SCHEMAS, predict_arrow

    train, holdout = _synthetic(uc, 3000, 6), _synthetic(uc, 200, 7)
    model = train_model(train, holdout, uc).model
    holdout.loc[:9, "carrier"] = None  # nulls and an unseen category travel through Arrow as well
    holdout.loc[10:19, "dest"] = "ZZZ"
    holdout.loc[20:29, "visib"] = np.nan
    table = pa.Table.from_pandas(holdout[["entity_id", *uc.feature_columns]], preserve_index=False)
    batch = predict_arrow(model, table, uc, 0.5)
    expected = probabilities(model, holdout, uc)  # the pandas path, on the frame as parsed from CSV
    assert batch.schema == SCORES_SCHEMAS["binary"]
    assert batch.column("entity_id").to_pylist() == holdout["entity_id"].tolist()
    np.testing.assert_array_equal(batch.column("score").to_numpy(), expected)
    assert batch.column("predicted_label").to_pylist() == (expected >= 0.5).tolist()


def test_predict_threads_default_to_every_core_and_follow_the_setting_and_the_openmp_cap(monkeypatch):
    import os

    from pipeline.scoring.stream import predict_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("BATCHSCORE_PREDICT_THREADS", raising=False)
    assert predict_threads() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("BATCHSCORE_PREDICT_THREADS", "3")
    assert predict_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # one worker per core caps it
    assert predict_threads() == 1
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("BATCHSCORE_PREDICT_THREADS", bad)
        with pytest.raises(ValueError, match=f"BATCHSCORE_PREDICT_THREADS must be a positive integer, got .*{bad}"):
            predict_threads()


def test_the_same_data_and_seed_give_a_byte_identical_artifact(uc):
    import io

    import joblib

    def artifact() -> bytes:
        buffer = io.BytesIO()
        joblib.dump(train_model(_synthetic(uc, 3000, 8), _synthetic(uc, 500, 9), uc).model, buffer)
        return buffer.getvalue()

    assert artifact() == artifact()
