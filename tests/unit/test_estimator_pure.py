"""The model a use case trains (pure: no database): the preprocessing that fits the estimator, a pipeline
factory, the categories recorded from the training data, and the one string form of categorical values."""

import datetime as dt
import decimal

import numpy as np
import pandas as pd
import pytest

from pipeline.config.loading import UseCaseError, load_usecase, with_overrides
from pipeline.model.estimator import (
    EstimatorError,
    category_strings,
    category_text,
    describe_features,
    make_pipeline,
)
from pipeline.model.predict import model_frame

SHIPPED = ["flight_cancellation", "departure_disruption", "bench_w1"]


def _frame(uc, n, seed):
    """Rows with the use case's features: a few categories (some missing), numerics with missing values."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.normal(size=n) for c in uc.features.numeric})
    for column in uc.features.numeric[:2]:
        frame.loc[rng.random(n) < 0.1, column] = np.nan
    for i, column in enumerate(uc.features.categorical):
        values = rng.choice([f"{column}{k}" for k in range(4 + i)], n).astype(object)
        values[rng.random(n) < 0.05] = None
        frame[column] = values
    first = uc.features.numeric[0]
    frame["label"] = (frame[first].fillna(0) + rng.normal(scale=0.7, size=n)) > 1.0
    return frame


def _pipeline_of_commit_82c5dee(uc):
    """The model family exactly as pipeline/model/estimator.py built it at commit 82c5dee (the reference the
    default pipeline must keep matching)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    preprocess = ColumnTransformer(
        [
            (
                "categorical",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                    max_categories=250,
                ),
                list(uc.features.categorical),
            ),
            ("numeric", "passthrough", list(uc.features.numeric)),
        ],
        verbose_feature_names_out=False,
    )
    params = {"random_state": uc.model.random_state, **uc.model.hyperparameters}
    booster = HistGradientBoostingClassifier(
        categorical_features=list(range(len(uc.features.categorical))), early_stopping=False, **params
    )
    return Pipeline([("preprocess", preprocess), ("model", booster)])


def _old_model_frame(frame, uc):
    """model_frame as of commit 82c5dee (categoricals as objects, numerics as float64)."""
    out = {c: frame[c].astype(object).where(frame[c].notna(), np.nan) for c in uc.features.categorical}
    out |= {c: pd.to_numeric(frame[c]).astype("float64") for c in uc.features.numeric}
    return pd.DataFrame(out, index=frame.index)


@pytest.mark.parametrize("name", SHIPPED)
def test_the_default_pipeline_predicts_exactly_what_the_model_family_of_82c5dee_did(name):
    uc = load_usecase(name)
    train, test = _frame(uc, 800, 1), _frame(uc, 300, 2)
    test.loc[test.index[:5], uc.features.categorical[0]] = "never-seen"  # unseen categories score the same too
    new = make_pipeline(uc).fit(model_frame(train, uc), train["label"])
    old = _pipeline_of_commit_82c5dee(uc).fit(_old_model_frame(train, uc), train["label"])
    assert type(new.named_steps["model"]).__name__ == "HistGradientBoostingClassifier"
    assert new.named_steps["model"].get_params() == old.named_steps["model"].get_params()
    np.testing.assert_array_equal(
        new.predict_proba(model_frame(test, uc)), old.predict_proba(_old_model_frame(test, uc))
    )


def test_a_linear_model_gets_imputation_one_hot_and_scaling_and_scores_unseen_and_missing_values():
    uc = with_overrides(
        load_usecase("departure_disruption"),
        {"model.estimator": "sklearn.linear_model.LogisticRegression", "model.hyperparameters": {"C": 0.5}},
    )
    pipe = make_pipeline(uc)
    steps = pipe.named_steps["preprocess"].transformers
    assert [name for name, _, _ in steps] == ["categorical", "numeric"]
    assert pipe.named_steps["model"].get_params()["C"] == 0.5
    assert pipe.named_steps["model"].get_params()["random_state"] == uc.model.random_state
    train, test = _frame(uc, 1500, 3), _frame(uc, 200, 4)
    test.loc[test.index[:3], "carrier"] = "ZZ"  # never seen
    test.loc[test.index[3:6], list(uc.features.numeric)] = np.nan  # missing everywhere
    pipe.fit(model_frame(train, uc), train["label"])
    proba = pipe.predict_proba(model_frame(test, uc))[:, 1]
    assert np.isfinite(proba).all() and ((proba >= 0) & (proba <= 1)).all()
    encoder = pipe.named_steps["preprocess"].named_transformers_["categorical"].named_steps["encode"]
    assert "__missing__" in set(encoder.categories_[0])  # a missing carrier is a category of its own


def test_rare_categories_share_one_column_and_unseen_ones_score_as_rare():
    uc = with_overrides(
        load_usecase("departure_disruption"),
        {"model.estimator": "sklearn.linear_model.LogisticRegression", "model.hyperparameters": {}},
    )
    train = _frame(uc, 2000, 5)
    train.loc[train.index[:5], "carrier"] = "RARE"  # 5 rows: below the 20 a column of its own needs
    pipe = make_pipeline(uc).fit(model_frame(train, uc), train["label"])
    encoder = pipe.named_steps["preprocess"].named_transformers_["categorical"].named_steps["encode"]
    assert "RARE" in set(encoder.infrequent_categories_[0])
    rare, unseen = train.iloc[[0]].copy(), train.iloc[[0]].copy()
    unseen["carrier"] = "NEVER"
    np.testing.assert_allclose(pipe.predict_proba(model_frame(unseen, uc)), pipe.predict_proba(model_frame(rare, uc)))


def test_one_hot_preprocessing_may_be_asked_for_histogram_boosting_too():
    uc = with_overrides(load_usecase("flight_cancellation"), {"model.preprocessing": "one_hot"})
    pipe = make_pipeline(uc)
    [(name, categorical, _), *_] = pipe.named_steps["preprocess"].transformers
    assert name == "categorical" and type(categorical.named_steps["encode"]).__name__ == "OneHotEncoder"
    train = _frame(uc, 600, 6)
    pipe.fit(model_frame(train, uc), train["label"])
    assert pipe.predict_proba(model_frame(train.head(10), uc)).shape == (10, 2)


def test_a_hyper_parameter_typo_is_refused_at_load_naming_the_key():
    with pytest.raises(
        UseCaseError,
        match=r"'model\.hyperparameters\.max_iterations' is not a hyper-parameter of "
        r"LogisticRegression \(did you mean 'max_iter'\?\)",
    ):
        with_overrides(
            load_usecase("departure_disruption"),
            {
                "model.estimator": "sklearn.linear_model.LogisticRegression",
                "model.hyperparameters": {"max_iterations": 500},
            },
        )


def test_a_pipeline_factory_builds_the_model_and_is_checked(monkeypatch):
    import sys
    import types

    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline as sk_pipeline
    from sklearn.preprocessing import OneHotEncoder

    module = types.ModuleType("factory_for_tests")

    def good(uc):
        from sklearn.compose import make_column_transformer

        columns = make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), list(uc.features.categorical)),
            ("drop", list(uc.features.numeric)),
        )
        return sk_pipeline(columns, LogisticRegression())

    module.good = good
    module.regressor = lambda uc: LinearRegression()
    module.broken = lambda uc: 1 / 0
    monkeypatch.setitem(sys.modules, "factory_for_tests", module)
    uc = load_usecase("departure_disruption")

    def declared(factory):
        return with_overrides(uc, {"model.hyperparameters": {}, "model.pipeline": f"factory_for_tests:{factory}"})

    train = _frame(uc, 500, 7)
    pipe = make_pipeline(declared("good")).fit(model_frame(train, uc), train["label"])
    assert pipe.predict_proba(model_frame(train.head(3), uc)).shape == (3, 2)
    with pytest.raises(
        EstimatorError,
        match=r"'model\.pipeline' factory_for_tests:regressor returned an unusable "
        r"model: LinearRegression has no predict_proba\(\), which a binary use case needs",
    ):
        make_pipeline(declared("regressor"))
    with pytest.raises(EstimatorError, match=r"'model\.pipeline' factory_for_tests:broken failed: ZeroDivisionError"):
        make_pipeline(declared("broken"))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (17, "17"),
        (np.int64(17), "17"),
        (17.0, "17"),  # an integer column with a null reaches pandas as float64
        (17.5, "17.5"),
        (True, "true"),
        (np.False_, "false"),
        (decimal.Decimal("17.0"), "17.0"),  # numeric keeps its scale in PostgreSQL's text too
        (dt.date(2013, 7, 1), "2013-07-01"),
        ("UA", "UA"),
    ],
)
def test_a_categorical_value_is_written_as_postgresql_casts_it_to_text(value, text):
    assert category_text(value) == text


def test_missing_categorical_values_stay_missing_in_every_dtype():
    for values in (
        pd.Series([17, None, 3], dtype="float64"),
        pd.Series([17, None, 3], dtype="Int64"),
        pd.Series(["a", None, "b"], dtype=object),
        pd.Series(["a", None, "b"], dtype="category"),
    ):
        out = category_strings(values)
        assert out.dtype == object and out.isna().tolist() == [False, True, False]
        assert all(isinstance(v, str) for v in out.dropna())
    assert category_strings(pd.Series([17, None, 3], dtype="float64")).dropna().tolist() == ["17", "3"]


def test_integer_categoricals_reach_the_model_and_the_recorded_categories_as_the_same_strings():
    uc = with_overrides(
        load_usecase("departure_disruption"), {"features.categorical": ["carrier", "origin", "sched_dep_time"]}
    )
    train = _frame(load_usecase("departure_disruption"), 300, 8)
    train["sched_dep_time"] = np.where(np.arange(300) % 10 == 0, np.nan, (np.arange(300) % 7) * 100 + 5)
    training = model_frame(train, uc)  # pandas made the column float64 because of its nulls
    assert set(training["sched_dep_time"].dropna()) == {"5", "105", "205", "305", "405", "505", "605"}
    scoring = model_frame(
        pd.DataFrame(
            {
                **train,
                "sched_dep_time": train["sched_dep_time"]
                .map(lambda v: None if np.isnan(v) else str(int(v)))
                .astype("category"),
            }
        ),
        uc,
    )  # what the Arrow stream gives
    pd.testing.assert_series_equal(training["sched_dep_time"], scoring["sched_dep_time"])
    described = describe_features(training, uc)
    assert described["sched_dep_time"] == {
        "kind": "categorical",
        "dtype": "object",
        "categories": ["105", "205", "305", "405", "5", "505", "605"],
    }
    assert described["distance"] == {"kind": "numeric", "dtype": "float64"}


def test_the_recorded_categories_are_those_of_the_training_data_whatever_the_estimator():
    uc = load_usecase("flight_cancellation")
    train = _frame(uc, 400, 9)
    described = describe_features(model_frame(train, uc), uc)
    for column in uc.features.categorical:
        assert described[column]["categories"] == sorted(train[column].dropna().unique())
