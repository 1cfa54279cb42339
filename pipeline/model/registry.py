"""The model registry: ``batchscore.model_versions`` and ``batchscore.promotion_decisions``, and nothing else
writes them. A version's artifact lives in the store (:mod:`pipeline.model.artifacts`); its row holds what it
was trained on, how it did on its holdout, the categories it saw, its drift reference and its status
(candidate, champion, rejected, archived).
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.db.locks import Lock, advisory_lock
from pipeline.db.sql import load_sql
from pipeline.model.artifacts import ModelError, code_version

__all__ = ["ModelError", "ModelVersion"]


@dataclass(frozen=True)
class ModelVersion:
    """One row of ``batchscore.model_versions``."""

    use_case: str
    version: str
    status: str
    artifact_path: str
    artifact_sha256: str
    sklearn_version: str
    threshold: float | None
    holdout_metrics: dict[str, Any]
    features: dict[str, Any]
    kind: str = "binary"
    classes: tuple[str, ...] | None = None

    def known_categories(self) -> dict[str, tuple[str, ...]]:
        """Per categorical feature, the categories this version saw at training."""
        return {
            name: tuple(spec["categories"])
            for name, spec in self.features.items()
            if isinstance(spec, dict) and spec.get("categories")
        }

    def describe(self) -> str:
        """One line about the version and its holdout figures (an undefined figure shows as n/a)."""
        m = self.holdout_metrics

        def fig(key: str, spec: str) -> str:
            value = m.get(key)
            return "n/a" if value is None else format(value, spec)

        head = f"model {self.use_case} {self.version} ({self.status}, {self.kind})"
        tail = f"sha256 {self.artifact_sha256[:12]}"
        if self.kind == "regression":
            return (
                f"{head}: holdout MAE {fig('mae', '.3f')}, RMSE {fig('rmse', '.3f')}, R2 {fig('r2', '.3f')}, "
                f"interval coverage {fig('interval_coverage', '.2f')}; {tail}"
            )
        if self.kind == "multiclass":
            return (
                f"{head}: holdout log loss {fig('log_loss', '.4f')}, macro F1 {fig('macro_f1', '.3f')}, "
                f"accuracy {fig('accuracy', '.3f')} over {len(self.classes or ())} classes; {tail}"
            )
        return (
            f"{head}: holdout average precision "
            f"{fig('average_precision', '.3f')} (base rate {fig('base_rate', '.3f')}), ROC AUC "
            f"{fig('roc_auc', '.3f')}, Brier {fig('brier', '.4f')}; at threshold {self.threshold}: "
            f"precision {fig('precision_at_threshold', '.2f')}, recall {fig('recall_at_threshold', '.2f')}; "
            f"{tail}"
        )


_SELECT = """
    select use_case, version, status, artifact_path, artifact_sha256, sklearn_version, threshold,
           holdout_metrics, features, kind, classes
    from batchscore.model_versions
"""


def _row_to_version(row: Any) -> ModelVersion:
    return ModelVersion(
        use_case=row.use_case,
        version=row.version,
        status=row.status,
        artifact_path=row.artifact_path,
        artifact_sha256=row.artifact_sha256,
        sklearn_version=row.sklearn_version,
        threshold=row.threshold,
        holdout_metrics=row.holdout_metrics,
        features=row.features,
        kind=row.kind,
        classes=tuple(row.classes) if row.classes is not None else None,
    )


def _read(engine: Engine, sql: str, **params: Any) -> list[sa.Row[Any]]:
    """The rows of one read of the registry."""
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params))


def _first(engine: Engine, sql: str, **params: Any) -> sa.Row[Any] | None:
    rows = _read(engine, sql, **params)
    return rows[0] if rows else None


def get_champion(engine: Engine, use_case: str) -> ModelVersion:
    """The current champion of a use case; a clear error when there is none."""
    row = _first(engine, _SELECT + " where use_case = :u and status = 'champion'", u=use_case)
    if row is None:
        raise ModelError(f"no champion model for use case {use_case!r}: run `batchscore train` first")
    return _row_to_version(row)


def get_version(engine: Engine, use_case: str, version: str) -> ModelVersion:
    """One registered version; a clear error when unknown."""
    row = _first(engine, _SELECT + " where use_case = :u and version = :v", u=use_case, v=version)
    if row is None:
        raise ModelError(f"unknown model version {version!r} for use case {use_case!r}")
    return _row_to_version(row)


def _next_version(conn: Connection, use_case: str) -> str:
    current = conn.execute(
        sa.text(
            "select coalesce(max(substring(version from '^v([0-9]+)$')::integer), 0) "
            "from batchscore.model_versions where use_case = :u"
        ),
        {"u": use_case},
    ).scalar_one()
    return f"v{current + 1}"


def register_version(
    engine: Engine,
    *,
    use_case: str,
    artifact_path: str,
    artifact_sha256: str,
    created_by: str,
    windows: dict[str, Any],
    train_rows: int,
    holdout_rows: int,
    features: dict[str, Any],
    hyperparameters: dict[str, Any],
    holdout_metrics: dict[str, Any],
    threshold: float | None,
    drift_reference: dict[str, Any] | None = None,
    kind: str = "binary",
    classes: tuple[str, ...] | None = None,
    make_champion_if_none: bool = True,
    lineage: dict[str, Any] | None = None,
) -> ModelVersion:
    """Register a stored artifact as the next version; the first model of a use case becomes champion
    unless ``make_champion_if_none`` is False (retraining registers candidates and lets the rule decide).

    ``lineage``: ``cutoff_date``, ``labels_known_at`` and ``label_definition`` of the training set.
    """
    import sklearn

    with engine.begin() as conn:
        lock_registry(conn, use_case)
        has_champion = conn.execute(
            sa.text(
                "select exists (select 1 from batchscore.model_versions where use_case = :u and status = 'champion')"
            ),
            {"u": use_case},
        ).scalar_one()
        status = "champion" if (make_champion_if_none and not has_champion) else "candidate"
        version = _next_version(conn, use_case)
        conn.execute(
            sa.text(load_sql("model/insert_model_version.sql")),
            {
                "use_case": use_case,
                "version": version,
                "status": status,
                "created_by": created_by,
                **windows,
                "train_rows": train_rows,
                "holdout_rows": holdout_rows,
                "features": json.dumps(features),
                "hyperparameters": json.dumps(hyperparameters),
                "holdout_metrics": json.dumps(holdout_metrics),
                "threshold": threshold,
                "artifact_path": artifact_path,
                "artifact_sha256": artifact_sha256,
                "sklearn_version": sklearn.__version__,
                "python_version": platform.python_version(),
                "code_version": code_version(),
                "drift_reference": json.dumps(drift_reference, allow_nan=False) if drift_reference else None,
                "kind": kind,
                "classes": list(classes) if classes is not None else None,
                "cutoff_date": None,
                "labels_known_at": None,
                "label_definition": None,
                **(lineage or {}),
            },
        )
    return get_version(engine, use_case, version)


def lock_registry(conn: Connection, use_case: str) -> None:
    """Serialise new versions and champion changes of one use case until the transaction ends."""
    advisory_lock(conn, Lock.MODEL_REGISTRY, use_case)


def current_champion(conn: Connection, use_case: str) -> str | None:
    """The champion's version inside the caller's transaction (None when there is none)."""
    return conn.execute(
        sa.text("select version from batchscore.model_versions where use_case = :u and status = 'champion'"),
        {"u": use_case},
    ).scalar()


def set_status(conn: Connection, use_case: str, version: str, status: str) -> None:
    """Change one version's status (inside the caller's transaction)."""
    updated = conn.execute(
        sa.text(
            "update batchscore.model_versions set status = :s, status_changed_at = now() "
            "where use_case = :u and version = :v"
        ),
        {"s": status, "u": use_case, "v": version},
    ).rowcount
    if updated != 1:
        raise ModelError(f"unknown model version {version!r} for use case {use_case!r}")


def record_decision(conn: Connection, decision: dict[str, Any]) -> int:
    """Append one row to ``batchscore.promotion_decisions`` (inside the caller's transaction)."""
    row = {
        "cutoff_date": None,
        "champion_version": None,
        "dry_run": False,
        "forced": False,
        "rule": {},
        "champion_metrics": None,
        "challenger_metrics": None,
        "improvement": None,
        "bootstrap": {},
        "guardrails": {},
        **decision,
    }
    if not str(row.get("reason") or "").strip():
        raise ModelError("a promotion decision needs a reason")
    for key in ("rule", "champion_metrics", "challenger_metrics", "bootstrap", "guardrails"):
        row[key] = json.dumps(row[key], default=str) if row[key] is not None else None
    return int(conn.execute(sa.text(load_sql("model/insert_promotion_decision.sql")), row).scalar_one())


def promote_version(engine: Engine, use_case: str, version: str, decision: dict[str, Any]) -> str | None:
    """Make ``version`` the champion and archive the previous one, with the decision row, in one transaction
    under the registry lock. Returns the previous champion's version."""
    with engine.begin() as conn:
        lock_registry(conn, use_case)
        previous = current_champion(conn, use_case)
        if previous == version:
            raise ModelError(f"{use_case} {version} is already the champion")
        get_version(engine, use_case, version)  # a clear error for an unknown version
        if previous is not None:
            set_status(conn, use_case, previous, "archived")
        set_status(conn, use_case, version, "champion")
        record_decision(
            conn,
            {
                **decision,
                "use_case": use_case,
                "champion_version": previous,
                "challenger_version": version,
                "promoted": True,
            },
        )
    return previous


def rollback_target(engine: Engine, use_case: str, to_version: str | None, *, force: bool = False) -> str:
    """The version a rollback restores: ``to_version``, or the most recently archived former champion. Only a
    former champion (status ``archived``) may be restored, unless ``force``: a version that never was champion
    has not been through the promotion rule."""
    if to_version:
        mv = get_version(engine, use_case, to_version)
        if mv.status == "champion":
            raise ModelError(f"{use_case} {to_version} is already the champion")
        if mv.status != "archived" and not force:
            raise ModelError(
                f"{use_case} {to_version} was never champion (status {mv.status}): a rollback restores a former "
                "champion; to make it champion anyway, force the rollback and give a reason"
            )
        return mv.version
    row = _first(
        engine,
        "select version from batchscore.model_versions where use_case = :u and status = 'archived' "
        "order by status_changed_at desc, created_at desc limit 1",
        u=use_case,
    )
    if row is None:
        raise ModelError(f"no former champion of {use_case!r} to roll back to: name the version to restore")
    return str(row.version)


def list_versions(engine: Engine, use_case: str) -> list[dict[str, Any]]:
    """Every registered version of a use case, newest first."""
    rows = _read(
        engine,
        "select version, status, created_at, created_by, train_from, train_to, holdout_from, "
        "holdout_to, train_rows, holdout_metrics, artifact_sha256, status_changed_at "
        "from batchscore.model_versions where use_case = :u order by created_at desc",
        u=use_case,
    )
    return [dict(r._mapping) for r in rows]


def shadow_version(engine: Engine, use_case: str, mode: str) -> ModelVersion | None:
    """The challenger in trial: none, the newest rejected since the champion took over, or a named version."""
    if mode == "none":
        return None
    if mode != "latest_rejected":
        mv = get_version(engine, use_case, mode)
        return None if mv.status == "champion" else mv
    row = _first(
        engine,
        "select r.version from batchscore.model_versions r join batchscore.model_versions c "
        "on c.use_case = r.use_case and c.status = 'champion' where r.use_case = :u and r.status = 'rejected' "
        "and r.created_at > c.status_changed_at order by r.created_at desc limit 1",
        u=use_case,
    )
    return get_version(engine, use_case, row.version) if row else None


def holdout_average_precision(engine: Engine, use_case: str) -> dict[str, float | None]:
    """Each version's holdout average precision (the floor nightly performance is judged against)."""
    rows = _read(
        engine,
        "select version, (holdout_metrics ->> 'average_precision')::float8 as ap "
        "from batchscore.model_versions where use_case = :u",
        u=use_case,
    )
    return {r.version: r.ap for r in rows}


def drift_reference(engine: Engine, use_case: str, version: str) -> tuple[Any, dict[str, Any]] | None:
    """(stored drift reference or None, features) of a version; None when the version is not registered."""
    row = _first(
        engine,
        "select drift_reference, features from batchscore.model_versions where use_case = :u and version = :v",
        u=use_case,
        v=version,
    )
    return None if row is None else (row.drift_reference, row.features or {})


def store_drift_reference(engine: Engine, use_case: str, version: str, reference_json: str) -> None:
    """Attach a drift reference (JSON text) to a version registered without one."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "update batchscore.model_versions set drift_reference = cast(:r as jsonb) "
                "where use_case = :u and version = :v"
            ),
            {"r": reference_json, "u": use_case, "v": version},
        )


def training_record(engine: Engine, use_case: str, version: str) -> dict[str, Any]:
    """The windows and label cut-off a version was trained on."""
    row = _first(
        engine,
        "select train_from, train_to, holdout_from, holdout_to, labels_known_at "
        "from batchscore.model_versions where use_case = :u and version = :v",
        u=use_case,
        v=version,
    )
    if row is None:
        raise ModelError(f"unknown model version {version!r} for use case {use_case!r}")
    return dict(row._mapping)


def last_decision(engine: Engine, run_id: str, use_case: str) -> dict[str, Any] | None:
    """The newest promotion decision a run of ``use_case`` recorded (promoted, dry_run, champion_version), or
    None. (Run ids repeat across use cases: each DAG's run of a date gets the same one.)"""
    row = _first(
        engine,
        "select promoted, dry_run, champion_version from batchscore.promotion_decisions "
        "where run_id = :r and use_case = :u order by id desc limit 1",
        r=run_id,
        u=use_case,
    )
    return None if row is None else dict(row._mapping)
