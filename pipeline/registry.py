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
    make_champion_if_none: bool = True,
) -> ModelVersion:
    """Register a stored artifact as the next version; the first model of a use case becomes champion."""
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
                    artifact_path, artifact_sha256, sklearn_version, python_version, code_version)
                values (
                    :use_case, :version, :status, :created_by, :train_from, :train_to, :holdout_from,
                    :holdout_to, :train_rows, :holdout_rows, cast(:features as jsonb),
                    cast(:hyperparameters as jsonb), cast(:holdout_metrics as jsonb), :threshold,
                    :artifact_path, :artifact_sha256, :sklearn_version, :python_version, :code_version)
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
            },
        )
    return get_version(engine, use_case, version)
