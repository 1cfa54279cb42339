"""How a model scores a frame: the one way every caller (nightly scoring, shadow scoring, evaluation, drift
references) turns rows into probabilities, with the same input typing and the same output checks. (The benchmark's
naive and raw-limit baselines call ``predict_proba`` themselves, on frames built by :func:`model_frame`.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.config.usecase import UseCase
from pipeline.errors import ArtifactError, ConfigError


class FeatureError(ConfigError):
    """The rows do not carry the features the use case declares."""


class ScoringError(ArtifactError):
    """The model produced something that cannot be published."""


def model_frame(frame: pd.DataFrame, uc: UseCase) -> pd.DataFrame:
    """The model's input columns in declared order: categoricals as object strings, numerics as float64.

    Used on the training set and on every scoring chunk, so both reach the model typed the same way.
    """
    missing = [c for c in uc.feature_columns if c not in frame.columns]
    if missing:
        raise FeatureError(f"{uc.name}: feature columns missing from the frame: {', '.join(missing)}")
    out = {}
    for column in uc.features.categorical:
        values = frame[column]
        out[column] = values.astype(object).where(values.notna(), np.nan)
    for column in uc.features.numeric:
        out[column] = pd.to_numeric(frame[column], errors="raise").astype("float64")
    return pd.DataFrame(out, index=frame.index)


def check_probabilities(proba: np.ndarray, uc: UseCase, rows: int) -> np.ndarray:
    """``proba`` when it is one finite probability in [0, 1] per row; :class:`ScoringError` otherwise."""
    proba = np.asarray(proba, dtype="float64")
    if proba.shape != (rows,):
        raise ScoringError(f"{uc.name}: the model returned {proba.shape} scores for {rows} rows")
    if not np.all(np.isfinite(proba)) or proba.min(initial=0.0) < 0 or proba.max(initial=0.0) > 1:
        raise ScoringError(f"{uc.name}: the model returned probabilities outside [0, 1] or NaN")
    return proba


def probabilities(model: Any, frame: pd.DataFrame, uc: UseCase) -> np.ndarray:
    """P(positive) per row of a frame holding the use case's features; refuses NaN or values outside [0, 1]."""
    proba = model.predict_proba(model_frame(frame, uc))
    return check_probabilities(np.asarray(proba)[:, 1], uc, len(frame))
