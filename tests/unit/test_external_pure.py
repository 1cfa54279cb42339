"""Checks of a model file trained elsewhere, before any database work (pure: a file, a use case, the model)."""

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
import sklearn.base

from pipeline.config.loading import load_usecase, with_overrides
from pipeline.model.external import RegisterError, check_model, load_model_file


@pytest.fixture(scope="module")
def uc():
    return load_usecase("departure_disruption")


def _frame(uc, n=300, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.normal(size=n) for c in uc.features.numeric})
    frame["carrier"] = rng.choice(["UA", "AA", "DL"], n).astype(object)
    frame["origin"] = rng.choice(["EWR", "JFK", "LGA"], n).astype(object)
    return frame[list(uc.feature_columns)], frame["distance"] + rng.normal(size=n) > 0


def _fitted(uc, columns=None, estimator=None, y=None):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    x, label = _frame(uc)
    columns = columns or list(uc.feature_columns)
    categorical = [c for c in columns if c in uc.features.categorical]
    encode = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), categorical)], remainder="passthrough")
    model = Pipeline([("encode", encode), ("model", estimator or LogisticRegression())])
    return model.fit(x[columns], label if y is None else y)


def test_a_model_pickled_with_another_scikit_learn_is_refused_unless_allowed(uc, tmp_path, monkeypatch):
    path = tmp_path / "old.joblib"
    with monkeypatch.context() as m:
        m.setattr(sklearn.base, "__version__", "1.0.2")  # what an older environment writes into the pickle
        joblib.dump(_fitted(uc), path)
    with pytest.raises(RegisterError) as refused:
        load_model_file(path)
    assert str(refused.value) == (
        f"{path}: pickled with scikit-learn 1.0.2, this environment has {sklearn.__version__}: refit it with "
        f"{sklearn.__version__}, or allow the mismatch (--allow-version-mismatch) once you have checked it"
    )
    model, version = load_model_file(path, allow_version_mismatch=True)
    assert version == "1.0.2" and hasattr(model, "predict_proba")


def test_a_model_pickled_here_reports_this_scikit_learn(uc, tmp_path):
    path = tmp_path / "here.joblib"
    joblib.dump(_fitted(uc), path)
    assert load_model_file(path)[1] == sklearn.__version__


def test_a_missing_or_unreadable_file_is_one_line_naming_it(tmp_path):
    with pytest.raises(RegisterError, match=rf"^{tmp_path}/nope\.joblib: no such file$"):
        load_model_file(tmp_path / "nope.joblib")
    garbage = tmp_path / "garbage.joblib"
    garbage.write_bytes(b"not a pickle at all")
    with pytest.raises(RegisterError, match=rf"^{garbage}: cannot load it with joblib: "):
        load_model_file(garbage)


def test_a_model_of_another_kind_or_unfitted_is_refused(uc, tmp_path):
    from sklearn.linear_model import LinearRegression, LogisticRegression

    path = tmp_path / "m.joblib"
    x, label = _frame(uc)
    with pytest.raises(RegisterError, match=r"LinearRegression has no predict_proba\(\), which a binary use case"):
        check_model(LinearRegression().fit(x[list(uc.features.numeric)], label), uc, path)
    with pytest.raises(RegisterError, match=r"LogisticRegression is not fitted"):
        check_model(LogisticRegression(), uc, path)
    labels = np.where(label, "late", "on time")
    with pytest.raises(
        RegisterError,
        match=r"needs a classifier of the labels False/True \(or 0/1\), this one "
        r"predicts the classes \['late', 'on time'\]",
    ):
        check_model(_fitted(uc, y=labels), uc, path)
    regression = with_overrides(uc, {"target.kind": "regression", "target.threshold": None})
    with pytest.raises(RegisterError, match=r"is a classifier, and this use case is a regression"):
        check_model(_fitted(uc), regression, path)
    check_model(_fitted(uc, y=label.astype(int)), uc, path)  # 0/1 labels are a binary classifier too


def test_a_model_must_take_exactly_the_declared_features_in_the_order_scoring_passes_them(uc, tmp_path):
    path = tmp_path / "m.joblib"
    without = [c for c in uc.feature_columns if c != "visib"]
    with pytest.raises(
        RegisterError, match=rf"^{path}: the model lacks the declared features visib \(\[features\] of "
    ):
        check_model(_fitted(uc, columns=without), uc, path)
    reordered = [*uc.features.numeric, *uc.features.categorical]
    with pytest.raises(
        RegisterError,
        match=r"takes its features in the order day_of_week, .*; scoring passes them "
        r"as declared, categoricals first: carrier, origin, day_of_week",
    ):
        check_model(_fitted(uc, columns=reordered), uc, path)
    check_model(_fitted(uc), uc, path)


def test_a_fitted_regressor_serves_a_regression_use_case(uc, tmp_path):
    from sklearn.linear_model import Ridge

    regression = with_overrides(uc, {"target.kind": "regression", "target.threshold": None})
    _, label = _frame(uc)
    check_model(_fitted(uc, estimator=Ridge(), y=label.astype(float) * 30.0), regression, tmp_path / "m.joblib")
