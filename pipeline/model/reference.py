"""The drift reference of a model version: what its training data and holdout scores looked like, summarised
when it is trained and stored with it (``model_versions.drift_reference``).

Numeric features get quantile bins (``edges[i-1] <= x < edges[i]``, numpy's ``searchsorted(..., side="right")``,
the semantics the nightly comparison uses too), categorical ones the shares of their frequent categories (the
rest pooled into ``__other__``), every feature its null rate, and the holdout scores bins of their own. A version
registered before monitoring existed gets its reference rebuilt from its own recorded windows.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from pipeline.config.usecase import UseCase
from pipeline.errors import ArtifactError
from pipeline.model import registry
from pipeline.model.estimator import category_strings

log = logging.getLogger(__name__)

REFERENCE_FORMAT = 1
MIN_CATEGORY_SHARE = 0.005  # rarer categories (and unseen ones) share the last bin, "other"
MAX_CATEGORIES = 30


class DriftReferenceError(ArtifactError):
    """A model version has no usable drift reference."""


class MissingReferenceError(DriftReferenceError):
    """The version was registered before monitoring existed: its reference can be built from its windows."""


def numeric_reference(values: pd.Series, bins: int) -> dict[str, Any]:
    """Quantile edges of the non-null values and the share of each bin; bins are ``edges[i-1] <= x < edges[i]``
    (numpy's ``searchsorted(..., side="right")``, as :func:`numeric_counts` bins the nightly batch)."""
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    present = numbers.dropna().to_numpy()
    null_rate = float(1.0 - len(present) / len(numbers)) if len(numbers) else 0.0
    if len(present) == 0:
        return {"edges": [], "shares": [], "null_rate": null_rate, "rows": 0}
    quantiles = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.unique(quantiles)
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    return {
        "edges": [float(e) for e in edges],
        "shares": [float(c) for c in counts / len(present)],
        "null_rate": null_rate,
        "rows": int(len(present)),
    }


def categorical_reference(values: pd.Series) -> dict[str, Any]:
    """Shares of the frequent categories (at most ``MAX_CATEGORIES``), the rest pooled into ``__other__``; the
    categories in the string form scoring and the nightly comparison use (an integer as ``"17"``)."""
    present = category_strings(values).dropna()
    null_rate = float(1.0 - len(present) / len(values)) if len(values) else 0.0
    if len(present) == 0:
        return {"categories": [], "shares": [1.0], "null_rate": null_rate, "rows": 0}
    shares = present.value_counts(normalize=True)
    frequent = shares[shares >= MIN_CATEGORY_SHARE].head(MAX_CATEGORIES)
    categories = sorted(frequent.index)
    category_shares = [float(frequent[c]) for c in categories]
    return {
        "categories": categories,
        "shares": [*category_shares, max(0.0, 1.0 - sum(category_shares))],
        "null_rate": null_rate,
        "rows": int(len(present)),
    }


def predicted_class_reference(predicted: Any) -> dict[str, Any]:
    """Multiclass: the share of each class among the holdout's predicted classes (every class that was predicted,
    none pooled: a model predicts few classes, and a class it starts or stops predicting is the news)."""
    values = pd.Series(np.asarray(predicted, dtype=object)).astype(str)
    shares = values.value_counts(normalize=True)
    categories = sorted(shares.index)
    return {
        "categories": categories,
        "shares": [*(float(shares[c]) for c in categories), 0.0],  # the last bin: classes never predicted
        "null_rate": 0.0,
        "rows": int(len(values)),
    }


def build_reference(
    features: pd.DataFrame, holdout_scores: np.ndarray, uc: UseCase, predicted_classes: Any = None
) -> dict[str, Any]:
    """The drift reference of a model version: its training features and its holdout scores, summarised.

    The score is whatever the kind publishes as ``score`` (binary P(positive), multiclass P(predicted class),
    regression the predicted value): quantile bins of the holdout's, open at both ends, so a regression's values
    in any range bin the same way. A multiclass version also records the shares of its predicted classes
    (``predicted_classes``: the holdout's), compared nightly with the published ones."""
    bins = uc.monitoring.bins
    reference = {
        "format": REFERENCE_FORMAT,
        "rows": int(len(features)),
        "bins": bins,
        "numeric": {c: numeric_reference(features[c], bins) for c in uc.features.numeric},
        "categorical": {c: categorical_reference(features[c]) for c in uc.features.categorical},
        "score": numeric_reference(pd.Series(holdout_scores, dtype="float64"), bins),
    }
    if predicted_classes is not None and len(predicted_classes):
        reference["predicted_class"] = predicted_class_reference(predicted_classes)
    return reference


def check_reference(reference: Any, uc: UseCase, version: str) -> dict[str, Any]:
    """The stored reference, or a clear error when it is missing or does not cover the use case's features."""
    if not isinstance(reference, dict) or reference.get("format") != REFERENCE_FORMAT:
        raise MissingReferenceError(
            f"{uc.name} {version}: no drift reference stored with this model version "
            f"(versions trained before monitoring existed); `batchscore monitor --reference {version}` builds it"
        )
    missing = [c for c in uc.features.numeric if c not in reference.get("numeric", {})]
    missing += [c for c in uc.features.categorical if c not in reference.get("categorical", {})]
    if missing:
        raise DriftReferenceError(f"{uc.name} {version}: the drift reference lacks the features {', '.join(missing)}")
    return reference


def reference_json(reference: dict[str, Any]) -> str:
    """The reference as stored in ``model_versions.drift_reference``."""
    return json.dumps(reference, allow_nan=False)


def load_reference(engine: Engine, uc: UseCase, version: str) -> tuple[dict[str, Any], dict[str, set[str]]]:
    """The version's drift reference and the categories it saw at training (from the registry)."""
    stored = registry.drift_reference(engine, uc.name, version)
    if stored is None:
        raise DriftReferenceError(f"{uc.name}: model version {version} is not registered")
    reference, features = stored
    seen = {c: set(spec.get("categories") or []) for c, spec in features.items() if spec.get("kind") == "categorical"}
    return check_reference(reference, uc, version), seen


def ensure_reference(engine: Engine, uc: UseCase, version: str) -> None:
    """Build the version's drift reference when it has none (versions registered before monitoring existed)."""
    try:
        load_reference(engine, uc, version)
    except MissingReferenceError:
        log.warning("%s %s has no drift reference yet; building it from its training windows", uc.name, version)
        rebuild_reference(engine, uc, version)


def rebuild_reference(engine: Engine, uc: UseCase, version: str) -> dict[str, Any]:
    """Build and store the drift reference of a version registered without one, from its own recorded
    training and holdout windows and label cut-off (the same point-in-time sets it was trained on)."""
    from pipeline.model.artifacts import load_artifact
    from pipeline.model.predict import model_frame, predict_output
    from pipeline.model.training_sets import label_cutoff, staged_training_sets

    mv = registry.get_version(engine, uc.name, version)
    record = registry.training_record(engine, uc.name, version)
    known_at = record["labels_known_at"] or label_cutoff(record["holdout_to"])
    with staged_training_sets(engine, uc, f"reference__{version}") as sets:
        frames = {}
        for kind, (date_from, date_to) in {
            "training": (record["train_from"], record["train_to"]),
            "holdout": (record["holdout_from"], record["holdout_to"]),
        }.items():
            sets.materialise(kind, date_from, date_to, known_at)
            frames[kind] = sets.load(kind)
    output = predict_output(load_artifact(mv), frames["holdout"], uc, threshold=mv.threshold)
    reference = build_reference(model_frame(frames["training"], uc), output.score, uc, output.predicted_class)
    registry.store_drift_reference(engine, uc.name, version, reference_json(reference))
    log.info(
        "built the drift reference of %s %s from %d training and %d holdout rows",
        uc.name,
        version,
        len(frames["training"]),
        len(frames["holdout"]),
    )
    return {
        "version": version,
        "training_rows": len(frames["training"]),
        "holdout_rows": len(frames["holdout"]),
        "reference_bytes": len(json.dumps(reference)),
    }
