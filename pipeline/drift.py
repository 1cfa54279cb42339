"""Drift: how far a night's inputs and scores moved away from what the model version was trained on.

At training time :func:`build_reference` summarises the training set (quantile bins of every numeric feature,
the shares of the frequent categories, null rates) and the holdout scores; the summary is stored with the
model version. Every night the batch is binned with the same edges and compared:

- ``psi``: population stability index over the non-null values (numeric bins or categories; the score);
- ``null_rate_delta``: absolute change of the null share;
- ``unseen_share``: share of the batch's categories the model never saw.

Batches above ``sample_rows`` are measured on a uniform random sample of about that many rows (repeatable, so a
re-run measures the same rows): one scan in Postgres, the binning in numpy. A metric of a batch with fewer than
``min_rows`` usable rows is stored with status ``insufficient`` and never alerts: a small batch cannot tell
drift from noise.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import math
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.sqlfiles import load_sql, quote_ident
from pipeline.usecase import MonitoringConfig, UseCase

log = logging.getLogger(__name__)

REFERENCE_FORMAT = 1
SCORE_FEATURE = "score"
OTHER = "__other__"          # categories outside the reference's frequent ones (unseen ones included)
MIN_CATEGORY_SHARE = 0.005   # categories rarer than this in training are pooled into OTHER
MAX_CATEGORIES = 30
DRIFT_LOCK_KEY = 7_146_006
SHARE_FLOOR = 1e-4           # empty bins get this share, so that the logarithm stays finite


class DriftReferenceError(ValueError):
    """A model version has no usable drift reference."""


class MissingReferenceError(DriftReferenceError):
    """The version was registered before monitoring existed: its reference can be built from its windows."""


# --- the reference (pure) ------------------------------------------------------------------------------------

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
    return {"edges": [float(e) for e in edges], "shares": [float(c) for c in counts / len(present)],
            "null_rate": null_rate, "rows": int(len(present))}


def categorical_reference(values: pd.Series) -> dict[str, Any]:
    """Shares of the frequent categories (at most ``MAX_CATEGORIES``), the rest pooled into ``__other__``."""
    present = values.dropna().astype(str)
    null_rate = float(1.0 - len(present) / len(values)) if len(values) else 0.0
    if len(present) == 0:
        return {"categories": [], "shares": [1.0], "null_rate": null_rate, "rows": 0}
    shares = present.value_counts(normalize=True)
    frequent = shares[shares >= MIN_CATEGORY_SHARE].head(MAX_CATEGORIES)
    categories = sorted(frequent.index)
    category_shares = [float(frequent[c]) for c in categories]
    return {"categories": categories, "shares": [*category_shares, max(0.0, 1.0 - sum(category_shares))],
            "null_rate": null_rate, "rows": int(len(present))}


def build_reference(features: pd.DataFrame, holdout_scores: np.ndarray, uc: UseCase) -> dict[str, Any]:
    """The drift reference of a model version: its training features and its holdout scores, summarised."""
    bins = uc.monitoring.bins
    return {
        "format": REFERENCE_FORMAT,
        "rows": int(len(features)),
        "bins": bins,
        "numeric": {c: numeric_reference(features[c], bins) for c in uc.numeric},
        "categorical": {c: categorical_reference(features[c]) for c in uc.categorical},
        "score": numeric_reference(pd.Series(holdout_scores, dtype="float64"), bins),
    }


# --- comparing (pure) ----------------------------------------------------------------------------------------

def population_stability_index(expected: list[float] | np.ndarray, actual: list[float] | np.ndarray) -> float:
    """PSI = sum((actual - expected) * ln(actual / expected)) over bins, empty bins floored at 1e-4."""
    e = np.maximum(np.asarray(expected, dtype="float64"), SHARE_FLOOR)
    a = np.maximum(np.asarray(actual, dtype="float64"), SHARE_FLOOR)
    if e.shape != a.shape:
        raise ValueError(f"PSI needs the same bins on both sides, got {e.shape[0]} and {a.shape[0]}")
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class DriftMetric:
    """One row of ``batchscore.drift_metrics``."""

    feature: str
    metric: str
    value: float
    threshold: float
    status: str
    sample_rows: int
    reference_rows: int


def _judged(feature: str, metric: str, value: float, threshold: float, rows: int, reference_rows: int,
            min_rows: int) -> DriftMetric:
    status = "insufficient" if rows < min_rows else ("drift" if value > threshold else "ok")
    return DriftMetric(feature, metric, round(value, 6), threshold, status, rows, reference_rows)


def compare_numeric(feature: str, ref: dict[str, Any], bucket_counts: dict[int | None, int],
                    cfg: MonitoringConfig, *, with_nulls: bool = True) -> list[DriftMetric]:
    """PSI (and null-rate change) of one numeric column from its batch counts per ``width_bucket`` index
    (``None``: nulls)."""
    nulls = bucket_counts.get(None, 0)
    present = sum(n for b, n in bucket_counts.items() if b is not None)
    total = present + nulls
    metrics = []
    if ref["rows"] and present:
        actual = np.zeros(len(ref["shares"]))
        for bucket, n in bucket_counts.items():
            if bucket is not None:
                actual[int(bucket)] += n
        psi = population_stability_index(ref["shares"], actual / present)
        metrics.append(_judged(feature, "psi", psi, cfg.psi_threshold, present, ref["rows"], cfg.min_rows))
    if with_nulls and total:
        delta = abs(nulls / total - ref["null_rate"])
        metrics.append(_judged(feature, "null_rate_delta", delta, cfg.null_rate_delta_threshold, total,
                               ref["rows"], cfg.min_rows))
    return metrics


def compare_categorical(feature: str, ref: dict[str, Any], value_counts: dict[str | None, int],
                        seen: set[str] | None, cfg: MonitoringConfig) -> list[DriftMetric]:
    """PSI over the reference categories (+ other), null-rate change, and the share the model never saw."""
    nulls = value_counts.get(None, 0)
    present = {str(v): n for v, n in value_counts.items() if v is not None}
    n_present = sum(present.values())
    total = n_present + nulls
    metrics = []
    if n_present:
        index = {c: i for i, c in enumerate(ref["categories"])}
        actual = np.zeros(len(ref["categories"]) + 1)
        for value, n in present.items():
            actual[index.get(value, len(ref["categories"]))] += n
        psi = population_stability_index(ref["shares"], actual / n_present)
        metrics.append(_judged(feature, "psi", psi, cfg.psi_threshold, n_present, ref["rows"], cfg.min_rows))
        if seen is not None:
            unseen = sum(n for v, n in present.items() if v not in seen) / n_present
            metrics.append(_judged(feature, "unseen_share", unseen, cfg.unseen_share_threshold, n_present,
                                   ref["rows"], cfg.min_rows))
    if total:
        delta = abs(nulls / total - ref["null_rate"])
        metrics.append(_judged(feature, "null_rate_delta", delta, cfg.null_rate_delta_threshold, total,
                               ref["rows"], cfg.min_rows))
    return metrics


def compare_batch(reference: dict[str, Any], numeric_counts: dict[str, dict[int | None, int]],
                  categorical_counts: dict[str, dict[str | None, int]], seen_categories: dict[str, set[str]],
                  uc: UseCase) -> list[DriftMetric]:
    """Every feature's drift metrics from the batch's counts (pure)."""
    metrics: list[DriftMetric] = []
    ignored = set(uc.monitoring.ignore_features)
    for column in uc.numeric:
        if column in ignored:
            continue
        metrics += compare_numeric(column, reference["numeric"][column], numeric_counts.get(column, {}),
                                   uc.monitoring)
    for column in uc.categorical:
        if column in ignored:
            continue
        metrics += compare_categorical(column, reference["categorical"][column],
                                       categorical_counts.get(column, {}), seen_categories.get(column),
                                       uc.monitoring)
    return metrics


def check_reference(reference: Any, uc: UseCase, version: str) -> dict[str, Any]:
    """The stored reference, or a clear error when it is missing or does not cover the use case's features."""
    if not isinstance(reference, dict) or reference.get("format") != REFERENCE_FORMAT:
        raise MissingReferenceError(
            f"{uc.name} {version}: no drift reference stored with this model version "
            f"(versions trained before monitoring existed); `batchscore monitor --reference {version}` builds it"
        )
    missing = [c for c in uc.numeric if c not in reference.get("numeric", {})]
    missing += [c for c in uc.categorical if c not in reference.get("categorical", {})]
    if missing:
        raise DriftReferenceError(
            f"{uc.name} {version}: the drift reference lacks the features {', '.join(missing)}"
        )
    return reference


# --- Postgres (thin I/O) -------------------------------------------------------------------------------------

def sample_percent(rows: int, max_rows: int) -> float | None:
    """TABLESAMPLE percentage that yields about ``max_rows`` of ``rows``; None: read every row."""
    return None if rows <= max_rows else 100.0 * max_rows / rows


def sample_features(engine: Engine, table: str, rows: int, uc: UseCase) -> pd.DataFrame:
    """The batch's feature columns, all of them up to ``sample_rows`` rows, else a uniform random sample of
    about that many (Bernoulli, repeatable: a re-run measures the same rows). COPY csv out, parsed typed."""
    columns = [c for c in uc.feature_columns if c not in uc.monitoring.ignore_features]
    percent = sample_percent(rows, uc.monitoring.sample_rows)
    sampling = "" if percent is None else f" tablesample bernoulli ({percent:.6f}) repeatable (0)"
    select = (f"select {', '.join(quote_ident(c) for c in columns)} from {table} as t{sampling}")  # noqa: S608
    buffer = io.BytesIO()
    with engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        with closing(dbapi.cursor()) as cur:
            cur.copy_expert(f"copy ({select}) to stdout (format csv, header true)", buffer)
    buffer.seek(0)
    dtypes: dict[str, Any] = {c: ("float64" if c in uc.numeric else object) for c in columns}
    return pd.read_csv(buffer, dtype=dtypes, keep_default_na=False, na_values=[""])


def numeric_counts(values: pd.Series, edges: list[float]) -> dict[int | None, int]:
    """Rows per bin of ``edges`` (``edges[i-1] <= x < edges[i]``) and nulls (key None)."""
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    present = numbers[~np.isnan(numbers)]
    if not edges:
        counts: dict[int | None, int] = {0: int(len(present))} if len(present) else {}
    else:
        bins, n = np.unique(np.searchsorted(np.asarray(edges), present, side="right"), return_counts=True)
        counts = {int(b): int(c) for b, c in zip(bins, n, strict=True)}
    nulls = int(len(numbers) - len(present))
    return {**counts, None: nulls} if nulls else counts


def count_batch(frame: pd.DataFrame, reference: dict[str, Any], uc: UseCase) -> tuple[dict, dict]:
    """Bin counts of the numeric features and value counts of the categorical ones (pure)."""
    numeric = {c: numeric_counts(frame[c], reference["numeric"][c]["edges"]) for c in uc.numeric if c in frame}
    categorical: dict[str, dict[str | None, int]] = {}
    for column in (c for c in uc.categorical if c in frame):
        values = frame[column]
        counts: dict[str | None, int] = {str(k): int(v) for k, v in values.dropna().value_counts().items()}
        nulls = int(values.isna().sum())
        categorical[column] = {**counts, None: nulls} if nulls else counts
    return numeric, categorical


def load_reference(engine: Engine, uc: UseCase, version: str) -> tuple[dict[str, Any], dict[str, set[str]]]:
    """The version's drift reference and the categories it saw at training (from the registry)."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("select drift_reference, features from batchscore.model_versions "
                    "where use_case = :u and version = :v"),
            {"u": uc.name, "v": version},
        ).one_or_none()
    if row is None:
        raise DriftReferenceError(f"{uc.name}: model version {version} is not registered")
    reference = check_reference(row.drift_reference, uc, version)
    seen = {c: set(spec.get("categories") or []) for c, spec in (row.features or {}).items()
            if spec.get("kind") == "categorical"}
    return reference, seen


def store_metrics(engine: Engine, uc: UseCase, score_date: dt.date, run_id: str, version: str,
                  metrics: list[DriftMetric], *, features: list[str] | None = None) -> None:
    """Replace this run's rows for ``features`` (all when None) with ``metrics``, in one transaction."""
    insert = sa.text(load_sql("queries/insert_drift_metric.sql"))
    with engine.begin() as conn:
        # one writer per (use case, date) at a time: two runs of a date finishing together both monitor the
        # published run, and their delete-then-insert would otherwise collide on the unique key
        conn.execute(sa.text("select pg_advisory_xact_lock(:k, hashtext(:key))"),
                     {"k": DRIFT_LOCK_KEY, "key": f"{uc.name}/{score_date.isoformat()}"})
        conn.execute(
            sa.text("delete from batchscore.drift_metrics where use_case = :u and score_date = :d and run_id = :r "
                    "and (cast(:features as text[]) is null or feature = any(cast(:features as text[])))"),
            {"u": uc.name, "d": score_date, "r": run_id, "features": features},
        )
        if metrics:
            conn.execute(insert, [
                {"use_case": uc.name, "score_date": score_date, "run_id": run_id, "model_version": version,
                 **m.__dict__} for m in metrics
            ])


def measure_feature_drift(engine: Engine, uc: UseCase, score_date: dt.date, run_id: str, features_table: str,
                          version: str, rows: int) -> dict[str, Any]:
    """Compare the run's staged features (``rows`` of them; a sample above ``sample_rows``) with the version's
    reference and store the metrics. Returns a small summary for XCom: what drifted and the worst PSI."""
    reference, seen = load_reference(engine, uc, version)
    numeric, categorical = count_batch(sample_features(engine, features_table, rows, uc), reference, uc)
    metrics = compare_batch(reference, numeric, categorical, seen, uc)
    store_metrics(engine, uc, score_date, run_id, version, metrics,
                  features=[*uc.numeric, *uc.categorical])
    return summarise(metrics)


def measure_score_drift(engine: Engine, uc: UseCase, score_date: dt.date, run_id: str, predictions: str,
                        version: str) -> dict[str, Any]:
    """Compare the published scores of the date (a sample above ``sample_rows``) with the version's holdout
    scores and store the metric."""
    reference, _ = load_reference(engine, uc, version)
    where = {"d": score_date, "r": run_id}
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"select count(*) from {predictions} "  # noqa: S608 (quoted by our code)
                                    "where score_date = :d and run_id = :r"), where).scalar_one()
        percent = sample_percent(rows, uc.monitoring.sample_rows)
        sampling = "" if percent is None else " tablesample bernoulli (:pct) repeatable (0)"
        scores = conn.execute(sa.text(f"select score from {predictions} as t{sampling} "  # noqa: S608
                                      "where score_date = :d and run_id = :r"), {**where, "pct": percent}).scalars()
        values = pd.Series(list(scores), dtype="float64")
    metrics = compare_numeric(SCORE_FEATURE, reference["score"], numeric_counts(values, reference["score"]["edges"]),
                              uc.monitoring, with_nulls=False)
    store_metrics(engine, uc, score_date, run_id, version, metrics, features=[SCORE_FEATURE])
    return summarise(metrics)


def summarise(metrics: list[DriftMetric]) -> dict[str, Any]:
    """Small XCom summary of drift metrics."""
    psi = [m.value for m in metrics if m.metric == "psi" and math.isfinite(m.value)]
    return {
        "metrics": len(metrics),
        "drifted": sorted({f"{m.feature}:{m.metric}" for m in metrics if m.status == "drift"}),
        "insufficient": sum(m.status == "insufficient" for m in metrics),
        "max_psi": round(max(psi), 4) if psi else None,
    }


def reference_json(reference: dict[str, Any]) -> str:
    """The reference as stored in ``model_versions.drift_reference``."""
    return json.dumps(reference, allow_nan=False)
