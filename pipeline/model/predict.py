"""How a model scores a frame: the one way every caller (nightly scoring, shadow scoring, evaluation, drift
references) turns rows into probabilities, with the same input typing and the same output checks. (The benchmark's
naive and raw-limit baselines call ``predict_proba`` themselves, on frames built by :func:`model_frame`.)
"""

from __future__ import annotations

from dataclasses import dataclass
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

    Used on the training set and on every scoring chunk, so both reach the model typed the same way: a
    categorical is text in the form PostgreSQL casts it to (an integer column as ``"17"``, never ``"17.0"``; missing
    stays ``np.nan``, :func:`pipeline.model.estimator.category_strings`), which is also the form the recorded
    categories, the validation gate and drift use.
    """
    from pipeline.model.estimator import category_strings

    missing = [c for c in uc.feature_columns if c not in frame.columns]
    if missing:
        raise FeatureError(f"{uc.name}: feature columns missing from the frame: {', '.join(missing)}")
    out = {}
    for column in uc.features.categorical:
        out[column] = category_strings(frame[column])
    for column in uc.features.numeric:
        out[column] = pd.to_numeric(frame[column], errors="raise").astype("float64")
    return pd.DataFrame(out, index=frame.index)


def check_trained_features(trained: dict[str, Any], uc: UseCase, what: str) -> None:
    """Refuse to score with a model trained on other features than the use case now declares (a declaration
    changed after training): the frame would lack columns the model needs, or carry ones it never saw.
    ``trained``: the version's recorded features (name -> {"kind": ...}); ``what`` names the version."""
    declared = {c: "categorical" for c in uc.features.categorical} | {c: "numeric" for c in uc.features.numeric}
    recorded = {name: spec.get("kind") if isinstance(spec, dict) else None for name, spec in trained.items()}
    if recorded == declared:
        return
    added = sorted(set(declared) - set(recorded))
    removed = sorted(set(recorded) - set(declared))
    changed = sorted(c for c in set(declared) & set(recorded) if declared[c] != recorded[c])
    parts = [
        f"{label}: {', '.join(names)}"
        for label, names in (("added", added), ("removed", removed), ("categorical/numeric changed", changed))
        if names
    ]
    raise FeatureError(
        f"{uc.name}: {what} was trained on other features than [features] now declares ({'; '.join(parts)}); "
        "train a model on the new declaration (batchscore train, or a retraining) before it scores"
    )


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


def model_classes(model: Any) -> tuple[str, ...]:
    """The classes a classifier predicts, as the strings labels are compared with."""
    classes = getattr(model, "classes_", None)
    if classes is None:
        raise ScoringError("the model has no classes_: it is not a fitted classifier")
    return tuple(str(c) for c in classes)


@dataclass(frozen=True)
class ModelOutput:
    """What a model says about n rows, by task kind (the columns a predictions table stores).

    ``score``: P(positive) (binary), the probability of the predicted class (multiclass), the predicted value
    (regression). Binary adds ``predicted_label``; multiclass ``predicted_class`` and ``class_probabilities`` (n, k)
    in the order of ``classes``; regression ``lower`` / ``upper`` when the model gives an interval.
    """

    kind: str
    score: np.ndarray
    predicted_label: np.ndarray | None = None
    predicted_class: np.ndarray | None = None
    class_probabilities: np.ndarray | None = None
    classes: tuple[str, ...] | None = None
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None


def predict_output(model: Any, frame: pd.DataFrame, uc: UseCase, threshold: float | None = None) -> ModelOutput:
    """The one way a frame of the use case's features becomes predictions, for every task kind; refuses
    output that cannot be published (NaN, probabilities outside [0, 1] or not summing to 1, wrong shapes)."""
    kind, rows = uc.target.kind, len(frame)
    features = model_frame(frame, uc)
    if kind == "binary":
        score = check_probabilities(np.asarray(model.predict_proba(features))[:, 1], uc, rows)
        cut = uc.target.threshold if threshold is None else threshold
        return ModelOutput(kind, score, predicted_label=score >= cut)
    if kind == "multiclass":
        proba = np.asarray(model.predict_proba(features), dtype="float64")
        classes = model_classes(model)
        if proba.shape != (rows, len(classes)):
            raise ScoringError(f"{uc.name}: the model returned {proba.shape} probabilities for {rows} rows")
        if not np.all(np.isfinite(proba)) or proba.min(initial=0.0) < 0 or proba.max(initial=0.0) > 1:
            raise ScoringError(f"{uc.name}: the model returned probabilities outside [0, 1] or NaN")
        if rows and not np.allclose(proba.sum(axis=1), 1.0, atol=1e-6):
            raise ScoringError(f"{uc.name}: the model's class probabilities do not sum to 1")
        best = proba.argmax(axis=1)
        return ModelOutput(
            kind,
            proba[np.arange(rows), best],
            predicted_class=np.asarray(classes, dtype=object)[best],
            class_probabilities=proba,
            classes=classes,
        )
    if hasattr(model, "predict_interval"):
        value, lower, upper = (np.asarray(a, dtype="float64") for a in model.predict_interval(features))
    else:
        value, lower, upper = np.asarray(model.predict(features), dtype="float64"), None, None
    if value.shape != (rows,):
        raise ScoringError(f"{uc.name}: the model returned {value.shape} predictions for {rows} rows")
    if not np.all(np.isfinite(value)):
        raise ScoringError(f"{uc.name}: the model returned NaN or infinite predictions")
    return ModelOutput(kind, value, lower=lower, upper=upper)


def output_matrix(output: ModelOutput, classes: tuple[str, ...] | None = None) -> np.ndarray:
    """The output metrics and the promotion rule compare: the score (binary, regression) or the class
    probabilities aligned to ``classes`` (multiclass; a class the model does not know gets probability 0)."""
    if output.kind != "multiclass":
        return output.score
    assert output.class_probabilities is not None and output.classes is not None
    if classes is None or classes == output.classes:
        return output.class_probabilities
    index = {c: i for i, c in enumerate(output.classes)}
    aligned = np.zeros((len(output.score), len(classes)))
    for j, c in enumerate(classes):
        if c in index:
            aligned[:, j] = output.class_probabilities[:, index[c]]
    return aligned
