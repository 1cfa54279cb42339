"""The model family: ordinal-encoded categoricals and numerics into a HistGradientBoostingClassifier."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.config.usecase import UseCase


def make_pipeline(uc: UseCase) -> Any:
    """The model family: ordinal-encoded categoricals + numerics into a HistGradientBoostingClassifier.

    Categories unseen at fit time, and categories rarer than the encoder keeps, become missing values, which
    the booster handles natively.
    """
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
                    max_categories=250,  # HGB bins categories; it accepts at most 255 per feature
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


def describe_features(model: Any, uc: UseCase) -> dict[str, Any]:
    """Feature list with kinds, and the categories the model saw (the gate compares batches with them)."""
    encoder = model.named_steps["preprocess"].named_transformers_["categorical"]
    seen = {
        name: [str(v) for v in values if isinstance(v, str)]
        for name, values in zip(uc.features.categorical, encoder.categories_, strict=True)
    }
    return {c: {"kind": "categorical", "dtype": "object", "categories": seen[c]} for c in uc.features.categorical} | {
        c: {"kind": "numeric", "dtype": "float64"} for c in uc.features.numeric
    }
