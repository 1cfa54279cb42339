"""Drift, measured: the run's staged features (and, after publish, its scores) read from PostgreSQL, compared
with the version's reference (:mod:`.drift`), and stored in ``batchscore.drift_metrics`` (the only writer).

Batches above ``sample_rows`` are measured on a uniform random sample of about that many rows (repeatable, so a
re-run measures the same rows): one scan in Postgres, the binning in numpy.
"""

from __future__ import annotations

import datetime as dt
import io
from contextlib import closing
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.config.usecase import UseCase
from pipeline.contracts import Drift
from pipeline.db.locks import Lock, advisory_lock
from pipeline.db.sql import load_sql, quote_ident
from pipeline.model.reference import load_reference
from pipeline.monitoring.drift import (
    PREDICTED_CLASS_FEATURE,
    SCORE_FEATURE,
    DriftMetric,
    compare_batch,
    compare_numeric,
    compare_shares,
    count_batch,
    numeric_counts,
    sample_percent,
    summarise,
)


def sample_features(engine: Engine, table: str, rows: int, uc: UseCase) -> pd.DataFrame:
    """The batch's feature columns, all of them up to ``sample_rows`` rows, else a uniform random sample of
    about that many (Bernoulli, repeatable: a re-run measures the same rows). COPY csv out, parsed typed."""
    columns = [c for c in uc.feature_columns if c not in uc.monitoring.ignore_features]
    percent = sample_percent(rows, uc.monitoring.sample_rows)
    sampling = "" if percent is None else f" tablesample bernoulli ({percent:.6f}) repeatable (0)"
    # categoricals as PostgreSQL's text cast, the form scoring streams and the recorded categories use (COPY csv
    # alone would write a boolean as "t")
    names = [
        f"cast({quote_ident(c)} as text) as {quote_ident(c)}" if c in uc.features.categorical else quote_ident(c)
        for c in columns
    ]
    select = f"select {', '.join(names)} from {table} as t{sampling}"  # noqa: S608
    buffer = io.BytesIO()
    with engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        with closing(dbapi.cursor()) as cur:
            cur.copy_expert(f"copy ({select}) to stdout (format csv, header true)", buffer)
    buffer.seek(0)
    dtypes: dict[str, Any] = {c: ("float64" if c in uc.features.numeric else object) for c in columns}
    return pd.read_csv(buffer, dtype=dtypes, keep_default_na=False, na_values=[""])


def store_metrics(
    engine: Engine,
    uc: UseCase,
    score_date: dt.date,
    run_id: str,
    version: str,
    metrics: list[DriftMetric],
    *,
    features: list[str] | None = None,
) -> None:
    """Replace this run's rows for ``features`` (all when None) with ``metrics``, in one transaction."""
    insert = sa.text(load_sql("monitoring/insert_drift_metric.sql"))
    with engine.begin() as conn:
        # one writer per (use case, date) at a time: two runs of a date finishing together both monitor the
        # published run, and their delete-then-insert would otherwise collide on the unique key
        advisory_lock(conn, Lock.DRIFT_DATE, f"{uc.name}/{score_date.isoformat()}")
        conn.execute(
            sa.text(
                "delete from batchscore.drift_metrics where use_case = :u and score_date = :d and run_id = :r "
                "and (cast(:features as text[]) is null or feature = any(cast(:features as text[])))"
            ),
            {"u": uc.name, "d": score_date, "r": run_id, "features": features},
        )
        if metrics:
            conn.execute(
                insert,
                [
                    {
                        "use_case": uc.name,
                        "score_date": score_date,
                        "run_id": run_id,
                        "model_version": version,
                        **m.__dict__,
                    }
                    for m in metrics
                ],
            )


def measure_feature_drift(
    engine: Engine, uc: UseCase, score_date: dt.date, run_id: str, features_table: str, version: str, rows: int
) -> Drift:
    """Compare the run's staged features (``rows`` of them; a sample above ``sample_rows``) with the version's
    reference and store the metrics. Returns a small summary for XCom: what drifted and the worst PSI."""
    reference, seen = load_reference(engine, uc, version)
    numeric, categorical = count_batch(sample_features(engine, features_table, rows, uc), reference, uc)
    metrics = compare_batch(reference, numeric, categorical, seen, uc)
    store_metrics(
        engine, uc, score_date, run_id, version, metrics, features=[*uc.features.numeric, *uc.features.categorical]
    )
    return summarise(metrics)


def measure_score_drift(
    engine: Engine, uc: UseCase, score_date: dt.date, run_id: str, predictions: str, version: str
) -> Drift:
    """Compare the published scores of the date (a sample above ``sample_rows``) with the version's holdout
    scores and store the metric. ``score`` is the kind's (P(positive), P(predicted class) or the predicted value),
    binned with the reference's quantile edges; a multiclass date also compares its predicted-class shares with
    the holdout's (feature ``predicted_class``), when the version's reference has them."""
    reference, _ = load_reference(engine, uc, version)
    classes_ref = reference.get("predicted_class") if uc.target.kind == "multiclass" else None
    where = {"d": score_date, "r": run_id}
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                f"select count(*) from {predictions} "  # noqa: S608 (quoted by our code)
                "where score_date = :d and run_id = :r"
            ),
            where,
        ).scalar_one()
        percent = sample_percent(rows, uc.monitoring.sample_rows)
        sampling = "" if percent is None else " tablesample bernoulli (:pct) repeatable (0)"
        columns = "score, predicted_class" if classes_ref is not None else "score, null as predicted_class"
        sampled = conn.execute(
            sa.text(
                f"select {columns} from {predictions} as t{sampling} "  # noqa: S608
                "where score_date = :d and run_id = :r"
            ),
            {**where, "pct": percent},
        ).all()
    values = pd.Series([r.score for r in sampled], dtype="float64")
    metrics = compare_numeric(
        SCORE_FEATURE,
        reference["score"],
        numeric_counts(values, reference["score"]["edges"]),
        uc.monitoring,
        with_nulls=False,
    )
    if classes_ref is not None:
        counts = pd.Series([r.predicted_class for r in sampled], dtype=object).value_counts()
        metrics += compare_shares(
            PREDICTED_CLASS_FEATURE, classes_ref, {str(k): int(v) for k, v in counts.items()}, uc.monitoring
        )
    store_metrics(engine, uc, score_date, run_id, version, metrics, features=[SCORE_FEATURE, PREDICTED_CLASS_FEATURE])
    return summarise(metrics)


def prune_unpublished_drift(engine: Engine, uc: UseCase, score_date: dt.date, run_id: str) -> int:
    """Delete the date's drift rows of runs other than the published one (attempts that never published)."""
    with engine.begin() as conn:
        return conn.execute(
            sa.text("delete from batchscore.drift_metrics where use_case = :u and score_date = :d and run_id <> :r"),
            {"u": uc.name, "d": score_date, "r": run_id},
        ).rowcount


def run_metrics(engine: Engine, uc: UseCase, score_date: dt.date, run_id: str) -> list[dict[str, Any]]:
    """Every drift metric stored for one run of a date, by feature and metric."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "select * from batchscore.drift_metrics where use_case = :u and score_date = :d "
                "and run_id = :r order by feature, metric"
            ),
            {"u": uc.name, "d": score_date, "r": run_id},
        )
        return [dict(r._mapping) for r in rows]
