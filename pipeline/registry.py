"""The model registry: immutable artifacts in a model store, their metadata in ``batchscore.model_versions``.

Artifacts are content-addressed (``<store>/<use_case>/<sha256[:16]>/model.joblib``), written once and made
read-only; the registry keeps the path relative to the store so a moved project still finds them. Loading an
artifact verifies its sha256 and the scikit-learn version it was trained with.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import pipeline
from pipeline.settings import load_settings, project_root

REGISTRY_LOCK_KEY = 7_146_002


class ModelError(RuntimeError):
    """No usable model: missing champion, tampered artifact or incompatible library version."""


@dataclass(frozen=True)
class ModelVersion:
    """One row of ``batchscore.model_versions``."""

    use_case: str
    version: str
    status: str
    artifact_path: str
    artifact_sha256: str
    sklearn_version: str
    threshold: float
    holdout_metrics: dict[str, Any]
    features: dict[str, Any]


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def code_version() -> str:
    """Package version plus the git revision when the checkout has one (``-dirty`` if modified)."""
    version = pipeline.__version__
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=project_root(), capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=project_root(), capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        return f"{version}+g{rev}{'-dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return version


def store_artifact(model: Any, use_case: str, store: Path | None = None) -> tuple[str, str]:
    """Write a fitted model once, read-only; return (path relative to the store, sha256)."""
    import joblib

    store = store or load_settings().model_store
    folder = store / use_case
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".joblib.tmp", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        joblib.dump(model, tmp_path)
        digest = sha256_of(tmp_path)
        final = folder / digest[:16] / "model.joblib"
        if final.exists():
            if sha256_of(final) != digest:
                raise ModelError(f"artifact {final} exists with different content; refusing to overwrite")
        else:
            final.parent.mkdir(exist_ok=True)
            os.replace(tmp_path, final)
            final.chmod(0o444)
    finally:
        tmp_path.unlink(missing_ok=True)
    return str(final.relative_to(store)), digest


def resolve_artifact(artifact_path: str, store: Path | None = None) -> Path:
    """Absolute path of a registered artifact."""
    path = Path(artifact_path)
    return path if path.is_absolute() else (store or load_settings().model_store) / path


def load_artifact(mv: ModelVersion, *, allow_sklearn_mismatch: bool = False, store: Path | None = None) -> Any:
    """Load a registered model after checking its sha256 and scikit-learn version."""
    import joblib
    import sklearn

    path = resolve_artifact(mv.artifact_path, store)
    if not path.is_file():
        raise ModelError(f"model {mv.use_case} {mv.version}: artifact missing at {path}")
    actual = sha256_of(path)
    if actual != mv.artifact_sha256:
        raise ModelError(
            f"model {mv.use_case} {mv.version}: artifact {path} has sha256 {actual[:12]}..., "
            f"registry says {mv.artifact_sha256[:12]}...: refusing to load a modified artifact"
        )
    if mv.sklearn_version != sklearn.__version__ and not allow_sklearn_mismatch:
        raise ModelError(
            f"model {mv.use_case} {mv.version} was trained with scikit-learn {mv.sklearn_version}, "
            f"this environment has {sklearn.__version__}; retrain, or allow the mismatch explicitly"
        )
    return joblib.load(path)


_SELECT = """
    select use_case, version, status, artifact_path, artifact_sha256, sklearn_version, threshold,
           holdout_metrics, features
    from batchscore.model_versions
"""


def _row_to_version(row: Any) -> ModelVersion:
    return ModelVersion(
        use_case=row.use_case, version=row.version, status=row.status, artifact_path=row.artifact_path,
        artifact_sha256=row.artifact_sha256, sklearn_version=row.sklearn_version,
        threshold=row.threshold, holdout_metrics=row.holdout_metrics, features=row.features,
    )


def get_champion(engine: Engine, use_case: str) -> ModelVersion:
    """The current champion of a use case; a clear error when there is none."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(_SELECT + " where use_case = :u and status = 'champion'"), {"u": use_case}
        ).one_or_none()
    if row is None:
        raise ModelError(f"no champion model for use case {use_case!r}: run `batchscore train` first")
    return _row_to_version(row)


def get_version(engine: Engine, use_case: str, version: str) -> ModelVersion:
    """One registered version; a clear error when unknown."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(_SELECT + " where use_case = :u and version = :v"), {"u": use_case, "v": version}
        ).one_or_none()
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
    threshold: float,
    drift_reference: dict[str, Any] | None = None,
    make_champion_if_none: bool = True,
    lineage: dict[str, Any] | None = None,
) -> ModelVersion:
    """Register a stored artifact as the next version; the first model of a use case becomes champion
    unless ``make_champion_if_none`` is False (retraining registers candidates and lets the rule decide).

    ``lineage``: ``cutoff_date``, ``labels_known_at`` and ``label_definition`` of the training set.
    """
    import sklearn

    with engine.begin() as conn:
        conn.execute(
            sa.text("select pg_advisory_xact_lock(:k, hashtext(:u))"), {"k": REGISTRY_LOCK_KEY, "u": use_case}
        )
        has_champion = conn.execute(
            sa.text(
                "select exists (select 1 from batchscore.model_versions "
                "where use_case = :u and status = 'champion')"
            ),
            {"u": use_case},
        ).scalar_one()
        status = "champion" if (make_champion_if_none and not has_champion) else "candidate"
        version = _next_version(conn, use_case)
        conn.execute(
            sa.text(
                """
                insert into batchscore.model_versions (
                    use_case, version, status, created_by, train_from, train_to, holdout_from, holdout_to,
                    train_rows, holdout_rows, features, hyperparameters, holdout_metrics, threshold,
                    artifact_path, artifact_sha256, sklearn_version, python_version, code_version,
                    cutoff_date, labels_known_at, label_definition, drift_reference)
                values (
                    :use_case, :version, :status, :created_by, :train_from, :train_to, :holdout_from,
                    :holdout_to, :train_rows, :holdout_rows, cast(:features as jsonb),
                    cast(:hyperparameters as jsonb), cast(:holdout_metrics as jsonb), :threshold,
                    :artifact_path, :artifact_sha256, :sklearn_version, :python_version, :code_version,
                    :cutoff_date, :labels_known_at, :label_definition, cast(:drift_reference as jsonb))
                """
            ),
            {
                "use_case": use_case, "version": version, "status": status, "created_by": created_by,
                **windows, "train_rows": train_rows, "holdout_rows": holdout_rows,
                "features": json.dumps(features), "hyperparameters": json.dumps(hyperparameters),
                "holdout_metrics": json.dumps(holdout_metrics), "threshold": threshold,
                "artifact_path": artifact_path, "artifact_sha256": artifact_sha256,
                "sklearn_version": sklearn.__version__, "python_version": platform.python_version(),
                "code_version": code_version(),
                "drift_reference": json.dumps(drift_reference, allow_nan=False) if drift_reference else None,
                "cutoff_date": None, "labels_known_at": None, "label_definition": None, **(lineage or {}),
            },
        )
    return get_version(engine, use_case, version)


PROMOTION_LOCK_KEY = 7_146_004


def lock_registry(conn: Connection, use_case: str) -> None:
    """Serialise champion changes of one use case until the transaction ends."""
    conn.execute(sa.text("select pg_advisory_xact_lock(:k, hashtext(:u))"), {"k": PROMOTION_LOCK_KEY, "u": use_case})


def current_champion(conn: Connection, use_case: str) -> str | None:
    """The champion's version inside the caller's transaction (None when there is none)."""
    return conn.execute(
        sa.text("select version from batchscore.model_versions where use_case = :u and status = 'champion'"),
        {"u": use_case},
    ).scalar()


def set_status(conn: Connection, use_case: str, version: str, status: str) -> None:
    """Change one version's status (inside the caller's transaction)."""
    updated = conn.execute(
        sa.text("update batchscore.model_versions set status = :s, status_changed_at = now() "
                "where use_case = :u and version = :v"),
        {"s": status, "u": use_case, "v": version},
    ).rowcount
    if updated != 1:
        raise ModelError(f"unknown model version {version!r} for use case {use_case!r}")


def record_decision(conn: Connection, decision: dict[str, Any]) -> int:
    """Append one row to ``batchscore.promotion_decisions`` (inside the caller's transaction)."""
    from pipeline.sqlfiles import load_sql

    row = {
        "cutoff_date": None, "champion_version": None, "dry_run": False, "forced": False, "rule": {},
        "champion_metrics": None, "challenger_metrics": None, "improvement": None, "bootstrap": {},
        "guardrails": {}, **decision,
    }
    if not str(row.get("reason") or "").strip():
        raise ValueError("a promotion decision needs a reason")
    for key in ("rule", "champion_metrics", "challenger_metrics", "bootstrap", "guardrails"):
        row[key] = json.dumps(row[key], default=str) if row[key] is not None else None
    return int(conn.execute(sa.text(load_sql("queries/insert_promotion_decision.sql")), row).scalar_one())


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
        record_decision(conn, {**decision, "use_case": use_case, "champion_version": previous,
                               "challenger_version": version, "promoted": True})
    return previous


def rollback_target(engine: Engine, use_case: str, to_version: str | None) -> str:
    """The version a rollback restores: ``to_version``, or the most recently archived former champion."""
    if to_version:
        mv = get_version(engine, use_case, to_version)
        if mv.status == "champion":
            raise ModelError(f"{use_case} {to_version} is already the champion")
        return mv.version
    with engine.connect() as conn:
        version = conn.execute(sa.text(
            "select version from batchscore.model_versions where use_case = :u and status = 'archived' "
            "order by status_changed_at desc, created_at desc limit 1"), {"u": use_case}).scalar()
    if version is None:
        raise ModelError(f"no former champion of {use_case!r} to roll back to; name one with --to")
    return str(version)


def list_versions(engine: Engine, use_case: str) -> list[dict[str, Any]]:
    """Every registered version of a use case, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "select version, status, created_at, created_by, train_from, train_to, holdout_from, holdout_to, "
            "train_rows, holdout_metrics, artifact_sha256, status_changed_at from batchscore.model_versions "
            "where use_case = :u order by created_at desc"), {"u": use_case})
        return [dict(r._mapping) for r in rows]


def shadow_version(engine: Engine, use_case: str, mode: str) -> ModelVersion | None:
    """The challenger in trial: none, the newest rejected since the champion took over, or a named version."""
    if mode == "none":
        return None
    if mode != "latest_rejected":
        mv = get_version(engine, use_case, mode)
        return None if mv.status == "champion" else mv
    with engine.connect() as conn:
        version = conn.execute(sa.text(
            "select r.version from batchscore.model_versions r join batchscore.model_versions c "
            "on c.use_case = r.use_case and c.status = 'champion' "
            "where r.use_case = :u and r.status = 'rejected' and r.created_at > c.status_changed_at "
            "order by r.created_at desc limit 1"), {"u": use_case}).scalar()
    return get_version(engine, use_case, version) if version else None
