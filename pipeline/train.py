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
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.features import model_frame
from pipeline.queries import training_query
from pipeline.registry import ModelVersion, register_version, store_artifact
from pipeline.usecase import UseCase

log = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """The training data cannot produce a model (empty window, one class only...)."""


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
                list(uc.categorical),
            ),
            ("numeric", "passthrough", list(uc.numeric)),
        ],
        verbose_feature_names_out=False,
    )
    params = {"random_state": uc.random_state, **uc.hyperparameters}
    booster = HistGradientBoostingClassifier(
        categorical_features=list(range(len(uc.categorical))), early_stopping=False, **params
    )
    return Pipeline([("preprocess", preprocess), ("model", booster)])


def evaluate(y_true: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, float]:
    """Holdout metrics of probability scores against boolean labels (pure)."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(score, dtype=float)
    flagged = s >= threshold
    true_pos = int(np.sum(flagged & y))
    metrics = {
        "rows": int(len(y)),
        "positives": int(y.sum()),
        "base_rate": float(y.mean()) if len(y) else float("nan"),
        "brier": float(brier_score_loss(y, s)) if len(y) else float("nan"),
        "flagged_share": float(flagged.mean()) if len(y) else float("nan"),
        "precision_at_threshold": float(true_pos / flagged.sum()) if flagged.sum() else 0.0,
        "recall_at_threshold": float(true_pos / y.sum()) if y.sum() else 0.0,
    }
    if 0 < y.sum() < len(y):
        metrics["average_precision"] = float(average_precision_score(y, s))
        metrics["roc_auc"] = float(roc_auc_score(y, s))
    return metrics




def stage_and_validate(engine: Engine, uc: UseCase, dataset: str, table: tuple[str, str], date_from: dt.date,
                       date_to: dt.date, known_at: dt.datetime, run_id: str) -> pd.DataFrame:
    """Materialise a point-in-time set in Postgres, put it through the training suite there, then load it.

    Raises :class:`~pipeline.validate.ValidationFailed` before anything is fitted when a critical check fails.
    """
    from pipeline.validate import validate_training_table

    quoted, bare = table
    rows = materialise_training_table(engine, uc, quoted, date_from, date_to, known_at)
    log.info("%s set: %d rows for %s..%s", dataset, rows, date_from, date_to)
    try:
        validate_training_table(engine, uc, bare, dataset=dataset, run_id=run_id)
        return load_staged(engine, quoted)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"drop table if exists {quoted}"))


def materialise_training_table(engine: Engine, uc: UseCase, table: str, date_from: dt.date, date_to: dt.date,
                               known_at: dt.datetime) -> int:
    """Create ``table`` (quoted, from staging) with the point-in-time training query; return its row count."""
    with engine.begin() as conn:
        conn.execute(sa.text(f"drop table if exists {table}"))
        conn.execute(
            sa.text(f"create unlogged table {table} as {training_query(uc)}"),
            {"date_from": date_from, "date_to": date_to, "known_at": known_at},
        )
        return int(conn.execute(sa.text(f"select count(*) from {table}")).scalar_one())  # noqa: S608


def load_staged(engine: Engine, table: str) -> pd.DataFrame:
    """A staged training/holdout table as a frame, in a stable order (reproducible fits)."""
    with engine.connect() as conn:
        return pd.read_sql(sa.text(f"select * from {table} order by score_date, entity_id"), conn)  # noqa: S608


@dataclass
class TrainingResult:
    """What :func:`train_model` fitted and measured."""

    model: Any
    train_rows: int
    holdout_rows: int
    metrics: dict[str, float]
    seconds: float
    drift_reference: dict[str, Any] | None = None  # what monitoring compares nightly batches with


def train_model(train: pd.DataFrame, holdout: pd.DataFrame, uc: UseCase) -> TrainingResult:
    """Fit the use case's pipeline on ``train`` and measure it on ``holdout`` (pure: no I/O)."""
    started = time.perf_counter()
    for name, frame in (("training", train), ("holdout", holdout)):
        if frame.empty:
            raise TrainingError(f"{uc.name}: the {name} window has no labelled rows")
    y_train = train["label"].astype(bool).to_numpy()
    if y_train.all() or not y_train.any():
        raise TrainingError(f"{uc.name}: the training window has only one class; widen it")
    from pipeline.drift import build_reference

    model = make_pipeline(uc)
    features = model_frame(train, uc)
    model.fit(features, y_train)
    score = model.predict_proba(model_frame(holdout, uc))[:, 1]
    metrics = evaluate(holdout["label"].astype(bool).to_numpy(), score, uc.threshold)
    seconds = time.perf_counter() - started
    return TrainingResult(model, len(train), len(holdout), metrics, seconds, build_reference(features, score, uc))


def describe_features(model: Any, uc: UseCase) -> dict[str, Any]:
    """Feature list with kinds, and the categories the model saw (the gate compares batches with them)."""
    encoder = model.named_steps["preprocess"].named_transformers_["categorical"]
    seen = {name: [str(v) for v in values if isinstance(v, str)]
            for name, values in zip(uc.categorical, encoder.categories_, strict=True)}
    return {c: {"kind": "categorical", "dtype": "object", "categories": seen[c]} for c in uc.categorical} | {
        c: {"kind": "numeric", "dtype": "float64"} for c in uc.numeric
    }


def label_cutoff(holdout_to: dt.date) -> dt.datetime:
    """The moment all labels of the holdout's last day are known: the evening after it (UTC)."""
    return dt.datetime.combine(holdout_to + dt.timedelta(days=1), dt.time(22, 0), tzinfo=dt.UTC)


def train_and_register(engine: Engine, uc: UseCase, *, created_by: str = "cli",
                       show_progress: bool | None = False) -> ModelVersion:
    """Build the training and holdout sets from Postgres, fit, store the artifact and register the version.

    The first version of a use case becomes its champion; later ones are registered as candidates.
    ``show_progress``: a progress bar over the steps (None: only on a terminal).
    """
    from tqdm import tqdm

    from pipeline.staging import training_tables

    run_id = f"train__{created_by}__{uuid.uuid4().hex[:8]}"
    tables = training_tables(uc.name, run_id)
    steps = ["training set", "holdout set", "fit and evaluate", "register"]
    with tqdm(total=len(steps), desc="train", unit="step",
              disable=None if show_progress is None else not show_progress) as bar:
        bar.set_postfix_str(steps[0])
        known_at = label_cutoff(uc.holdout_to)
        train = stage_and_validate(engine, uc, "training", tables["training"], uc.train_from, uc.train_to,
                                   known_at, run_id)
        bar.update()
        bar.set_postfix_str(steps[1])
        holdout = stage_and_validate(engine, uc, "holdout", tables["holdout"], uc.holdout_from, uc.holdout_to,
                                     known_at, run_id)
        bar.update()
        bar.set_postfix_str(f"{steps[2]} ({len(train):,} + {len(holdout):,} rows)")
        log.info("training on %d rows, evaluating on %d holdout rows", len(train), len(holdout))
        result = train_model(train, holdout, uc)
        bar.update()
        bar.set_postfix_str(steps[3])
        version = _store_and_register(engine, uc, result, created_by)
        bar.update()
    return version


def _store_and_register(engine: Engine, uc: UseCase, result: TrainingResult, created_by: str, *,
                        windows: dict[str, dt.date] | None = None, make_champion_if_none: bool = True,
                        lineage: dict[str, Any] | None = None) -> ModelVersion:
    path, sha = store_artifact(result.model, uc.name)
    features = describe_features(result.model, uc)
    return register_version(
        engine,
        use_case=uc.name,
        artifact_path=path,
        artifact_sha256=sha,
        created_by=created_by,
        windows=windows or {
            "train_from": uc.train_from, "train_to": uc.train_to,
            "holdout_from": uc.holdout_from, "holdout_to": uc.holdout_to,
        },
        train_rows=result.train_rows,
        holdout_rows=result.holdout_rows,
        features=features,
        hyperparameters={"random_state": uc.random_state, **uc.hyperparameters},
        holdout_metrics={**result.metrics, "fit_seconds": round(result.seconds, 2)},
        threshold=uc.threshold,
        drift_reference=result.drift_reference,
        make_champion_if_none=make_champion_if_none,
        lineage={"labels_known_at": label_cutoff(uc.holdout_to), "label_definition": label_definition(uc),
                 **(lineage or {})},
    )


def label_definition(uc: UseCase) -> str:
    """The target and the label query that defines it, for the registry's lineage."""
    return f"target {uc.target!r}, threshold {uc.threshold}; label query:\n{uc.labels_sql.strip()}"
