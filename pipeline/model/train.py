"""Train: fit a model on a point-in-time training set, evaluate it on an out-of-time holdout, register it."""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from pipeline.config.usecase import UseCase
from pipeline.errors import DataRejected
from pipeline.model.artifacts import store_artifact
from pipeline.model.conformal import ConformalRegressor
from pipeline.model.estimator import describe_features, make_pipeline
from pipeline.model.labels import coerce_labels
from pipeline.model.metrics import defined, kind_metrics
from pipeline.model.predict import ModelOutput, model_classes, model_frame, output_matrix, predict_output
from pipeline.model.reference import build_reference
from pipeline.model.registry import ModelVersion, register_version
from pipeline.model.training_sets import label_cutoff, staged_training_sets

log = logging.getLogger(__name__)


class TrainingError(DataRejected):
    """The training data cannot produce a model (empty window, one class only...)."""


def evaluate(y_true: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, float]:
    """Binary holdout metrics of probability scores against boolean labels; undefined ones left out (pure)."""
    return defined(kind_metrics("binary", y_true, score, threshold=threshold))


def output_metrics(
    uc: UseCase, labels: np.ndarray, output: ModelOutput, threshold: float | None = None
) -> dict[str, Any]:
    """The kind's metrics of one model's output against coerced labels; undefined ones left out (pure).
    Multiclass: over the model's classes plus any the labels add (a class the model never saw has probability 0)."""
    classes = None
    if output.kind == "multiclass":
        assert output.classes is not None
        classes = output.classes + tuple(sorted(set(map(str, labels)) - set(output.classes)))
    interval = (output.lower, output.upper) if output.lower is not None else None
    cut = uc.target.threshold if threshold is None else threshold
    return defined(
        kind_metrics(
            output.kind, labels, output_matrix(output, classes), threshold=cut, classes=classes, interval=interval
        )
    )


def labels_of(uc: UseCase, frame: pd.DataFrame, what: str) -> np.ndarray:
    """The ``label`` column of a staged set, checked and typed for the use case's kind."""
    return coerce_labels(uc.target.kind, frame["label"], f"{uc.name}: the {what} labels (sql/{uc.sql.labels})")


@dataclass
class TrainingResult:
    """What :func:`train_model` fitted and measured."""

    model: Any
    train_rows: int
    holdout_rows: int
    metrics: dict[str, float]
    seconds: float
    drift_reference: dict[str, Any] | None = None  # what monitoring compares nightly batches with
    features: dict[str, Any] | None = None  # the features and the categories seen in training (describe_features)


def train_model(train: pd.DataFrame, holdout: pd.DataFrame, uc: UseCase) -> TrainingResult:
    """Fit the use case's pipeline on ``train`` and measure it on ``holdout`` (pure: no I/O)."""
    started = time.perf_counter()
    for name, frame in (("training", train), ("holdout", holdout)):
        if frame.empty:
            raise TrainingError(f"{uc.name}: the {name} window has no labelled rows")
    y_train = labels_of(uc, train, "training")
    if uc.target.kind != "regression" and len(np.unique(y_train)) < 2:
        raise TrainingError(f"{uc.name}: the training window has only one class; widen it")
    model = make_pipeline(uc)
    if uc.target.kind == "regression" and uc.target.interval is not None:
        model = ConformalRegressor(model, coverage=uc.target.interval)
    features = model_frame(train, uc)
    model.fit(features, y_train)
    output = predict_output(model, holdout, uc)
    metrics = output_metrics(uc, labels_of(uc, holdout, "holdout"), output)
    seconds = time.perf_counter() - started
    return TrainingResult(
        model,
        len(train),
        len(holdout),
        metrics,
        seconds,
        build_reference(features, output.score, uc, output.predicted_class),
        describe_features(features, uc),
    )


def train_and_register(
    engine: Engine, uc: UseCase, *, created_by: str = "cli", show_progress: bool | None = False
) -> ModelVersion:
    """Build the training and holdout sets from Postgres, fit, store the artifact and register the version.

    The first version of a use case becomes its champion; later ones are registered as candidates.
    ``show_progress``: a progress bar over the steps (None: only on a terminal).
    """
    from tqdm import tqdm

    w = uc.training
    steps = ["training set", "holdout set", "fit and evaluate", "register"]
    with (
        staged_training_sets(engine, uc, f"train__{created_by}__{uuid.uuid4().hex[:8]}") as sets,
        tqdm(
            total=len(steps), desc="train", unit="step", disable=None if show_progress is None else not show_progress
        ) as bar,
    ):
        known_at = label_cutoff(w.holdout_to)
        frames = {}
        for step, kind, (date_from, date_to) in (
            (steps[0], "training", (w.train_from, w.train_to)),
            (steps[1], "holdout", (w.holdout_from, w.holdout_to)),
        ):
            bar.set_postfix_str(step)
            sets.materialise(kind, date_from, date_to, known_at)
            sets.validate(kind)
            frames[kind] = sets.load(kind)
            bar.update()
        bar.set_postfix_str(f"{steps[2]} ({len(frames['training']):,} + {len(frames['holdout']):,} rows)")
        log.info("training on %d rows, evaluating on %d holdout rows", len(frames["training"]), len(frames["holdout"]))
        result = train_model(frames["training"], frames["holdout"], uc)
        bar.update()
        bar.set_postfix_str(steps[3])
        version = store_and_register(engine, uc, result, created_by)
        bar.update()
    return version


def store_and_register(
    engine: Engine,
    uc: UseCase,
    result: TrainingResult,
    created_by: str,
    *,
    windows: dict[str, dt.date] | None = None,
    make_champion_if_none: bool = True,
    lineage: dict[str, Any] | None = None,
) -> ModelVersion:
    """Write the fitted model to the artifact store and register it (the first of a use case is champion)."""
    path, sha = store_artifact(result.model, uc.name)
    w = uc.training
    return register_version(
        engine,
        use_case=uc.name,
        artifact_path=path,
        artifact_sha256=sha,
        created_by=created_by,
        windows=windows
        or {
            "train_from": w.train_from,
            "train_to": w.train_to,
            "holdout_from": w.holdout_from,
            "holdout_to": w.holdout_to,
        },
        train_rows=result.train_rows,
        holdout_rows=result.holdout_rows,
        features=result.features or {},
        hyperparameters={"random_state": uc.model.random_state, **uc.model.hyperparameters},
        holdout_metrics={**result.metrics, "fit_seconds": round(result.seconds, 2)},
        threshold=uc.target.threshold,
        drift_reference=result.drift_reference,
        kind=uc.target.kind,
        classes=model_classes(result.model) if uc.target.kind == "multiclass" else None,
        make_champion_if_none=make_champion_if_none,
        lineage={
            "labels_known_at": label_cutoff(w.holdout_to),
            "label_definition": label_definition(uc),
            **(lineage or {}),
        },
    )


def label_definition(uc: UseCase) -> str:
    """The target and the label query that defines it, for the registry's lineage."""
    return f"target {uc.target.name!r}, threshold {uc.target.threshold}; label query:\n{uc.query('labels').strip()}"
