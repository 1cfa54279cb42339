"""The model a use case trains: the declared estimator with the preprocessing that fits it, or the use case's own
pipeline factory; and the one string form of categorical values that training, scoring, validation and drift share.

``[model] preprocessing``:

- ``native`` (the default for histogram boosting): categoricals ordinal-encoded and declared as categorical
  features, numerics passed through; the booster handles missing values and splits on categories itself.
- ``one_hot`` (the default for every other estimator): numerics median-imputed with a missing indicator (only for
  columns that had missing values in training) and standardised; categoricals with missing values as their own
  category, one-hot encoded, categories seen in fewer than ``MIN_CATEGORY_ROWS`` training rows grouped into one
  "infrequent" column, at most ``MAX_ONE_HOT_CATEGORIES`` columns per feature, and a category never seen in
  training scored as the infrequent group (all zeros when there is none).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config.modelling import build_estimator, import_object, is_histogram_boosting
from pipeline.config.usecase import UseCase
from pipeline.errors import ConfigError

#: a category needs this many training rows for a one-hot column of its own: fewer rows give a coefficient that
#: is mostly noise, so rare categories share the "infrequent" column (which is also where unseen ones go)
MIN_CATEGORY_ROWS = 20
#: one-hot columns per feature at most (the most frequent categories keep their own; the rest are infrequent):
#: keeps the dense design matrix of a high-cardinality feature (a flight number) small in memory
MAX_ONE_HOT_CATEGORIES = 64
#: what a missing categorical becomes before one-hot encoding (a name no real category is likely to have)
MISSING_CATEGORY = "__missing__"
#: histogram boosting bins categories and accepts at most 255 per feature
MAX_NATIVE_CATEGORIES = 250


class EstimatorError(ConfigError):
    """The declared model cannot be built: a pipeline factory that fails or returns the wrong kind of object."""


# --- the string form of categories -------------------------------------------------------------------------------


def category_text(value: Any) -> Any:
    """One categorical value as the text PostgreSQL's ``cast(... as text)`` gives it (what scoring streams): ints
    as ``"17"`` (also when pandas made them floats because of a null), booleans as ``"true"``, dates in ISO form;
    a missing value stays ``np.nan``."""
    if value is None or value is pd.NA or value is pd.NaT:
        return np.nan
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return np.nan
        # PostgreSQL writes a float8 17.0 as "17" (and switches to exponents from 1e15 on, as repr does later)
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def category_strings(values: pd.Series) -> pd.Series:
    """A categorical column as object strings in :func:`category_text` form, missing values as ``np.nan``."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        # what scoring streams (Arrow dictionaries): convert the few categories, not every row
        categories = np.array([category_text(c) for c in values.cat.categories] + [np.nan], dtype=object)
        return pd.Series(categories[values.cat.codes.to_numpy()], index=values.index, dtype=object)
    present = values.notna()
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        # text from the database, checked in C: only the missing values need normalising
        return values.astype(object).where(present, np.nan)
    return values.astype(object).map(category_text).where(present, np.nan).astype(object)


# --- the pipeline ------------------------------------------------------------------------------------------------


def estimator_problem(model: Any, kind: str) -> str | None:
    """What keeps ``model`` from serving a use case of ``kind`` (None when nothing): it must have ``fit`` and
    ``predict_proba`` (binary, multiclass) or ``predict`` (regression), and a regression model no classifier."""
    from sklearn.base import is_classifier

    needed = "predict" if kind == "regression" else "predict_proba"
    if not callable(getattr(model, "fit", None)):
        return f"{type(model).__name__} has no fit(), so it is not a scikit-learn estimator"
    if not callable(getattr(model, needed, None)):
        return f"{type(model).__name__} has no {needed}(), which a {kind} use case needs"
    if kind == "regression" and is_classifier(model):
        return f"{type(model).__name__} is a classifier, and this use case is a regression"
    return None


def make_pipeline(uc: UseCase) -> Any:
    """The unfitted model of a use case, taking the frame :func:`pipeline.model.predict.model_frame` builds: the
    ``[model] pipeline`` factory's result, else the declared estimator behind its preprocessing."""
    if uc.model.pipeline is not None:
        return _from_factory(uc)
    estimator = build_estimator(uc.model, uc.target.kind)
    preprocessing = uc.model.preprocessing
    if preprocessing == "auto":
        preprocessing = "native" if is_histogram_boosting(type(estimator)) else "one_hot"
    if preprocessing == "native":
        return _native(uc, estimator)
    return _one_hot(uc, estimator)


def _from_factory(uc: UseCase) -> Any:
    path = str(uc.model.pipeline)
    factory = import_object(path, "model.pipeline")
    try:
        model = factory(uc)
    except Exception as exc:
        raise EstimatorError(f"{uc.path}: 'model.pipeline' {path} failed: {type(exc).__name__}: {exc}") from exc
    problem = estimator_problem(model, uc.target.kind)
    if problem:
        raise EstimatorError(f"{uc.path}: 'model.pipeline' {path} returned an unusable model: {problem}")
    return model


def _native(uc: UseCase, estimator: Any) -> Any:
    """Today's model family: ordinal-encoded categoricals + numerics into histogram boosting, which splits on the
    categories. Unseen categories, and categories rarer than the encoder keeps, become missing values, which the
    booster handles natively."""
    from sklearn.compose import ColumnTransformer
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
                    max_categories=MAX_NATIVE_CATEGORIES,
                ),
                list(uc.features.categorical),
            ),
            ("numeric", "passthrough", list(uc.features.numeric)),
        ],
        verbose_feature_names_out=False,
    )
    estimator.set_params(categorical_features=list(range(len(uc.features.categorical))))
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def _one_hot(uc: UseCase, estimator: Any) -> Any:
    """Imputation, one-hot categoricals and scaled numerics (see the module's docstring) in front of any
    estimator; the output is dense, so every estimator takes it."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
            (
                "encode",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    min_frequency=MIN_CATEGORY_ROWS,
                    max_categories=MAX_ONE_HOT_CATEGORIES,
                    sparse_output=False,
                ),
            ),
        ]
    )
    numeric = Pipeline(
        [
            # the indicator only for columns with missing values in training: a missing value may carry signal
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]
    )
    transformers = []
    if uc.features.categorical:
        transformers.append(("categorical", categorical, list(uc.features.categorical)))
    if uc.features.numeric:
        transformers.append(("numeric", numeric, list(uc.features.numeric)))
    preprocess = ColumnTransformer(transformers, sparse_threshold=0.0)
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def describe_features(features: pd.DataFrame, uc: UseCase) -> dict[str, Any]:
    """Feature list with kinds, and the categories seen in the training data (``features``: the training set as
    :func:`~pipeline.model.predict.model_frame` typed it), whatever the estimator: the validation gate and drift
    compare nightly batches with them."""
    seen = {
        name: sorted(str(v) for v in category_strings(features[name]).dropna().unique())
        for name in uc.features.categorical
    }
    return {c: {"kind": "categorical", "dtype": "object", "categories": seen[c]} for c in uc.features.categorical} | {
        c: {"kind": "numeric", "dtype": "float64"} for c in uc.features.numeric
    }
