"""The artifact store: fitted models written once, read-only and content-addressed.

An artifact lives at ``<store>/<use_case>/<sha256[:16]>/model.joblib``; the registry keeps the path relative to
the store so a moved project still finds it. Loading verifies its sha256 and the scikit-learn version it was
trained with.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import pipeline
from pipeline.config.paths import project_root
from pipeline.config.settings import load_settings
from pipeline.errors import ArtifactError


class RegisteredArtifact(Protocol):
    """What loading needs of a registered version (:class:`pipeline.model.registry.ModelVersion` has it)."""

    @property
    def use_case(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def artifact_path(self) -> str: ...
    @property
    def artifact_sha256(self) -> str: ...
    @property
    def sklearn_version(self) -> str: ...


class ModelError(ArtifactError):
    """No usable model: missing champion, tampered artifact or incompatible library version."""


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def code_version() -> str:
    """Package version plus the git revision when the checkout has one (``-dirty`` if modified)."""

    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=project_root(), capture_output=True, text=True, timeout=5, check=True)
        return run.stdout.strip()

    version = pipeline.__version__
    try:
        rev, dirty = git("rev-parse", "--short=12", "HEAD"), git("status", "--porcelain", "--untracked-files=no")
        return f"{version}+g{rev}{'-dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return version


def store_artifact(model: Any, use_case: str, store: Path | None = None) -> tuple[str, str]:
    """Write a fitted model once, read-only; return (path relative to the store, sha256)."""
    import joblib

    return _store(lambda tmp: joblib.dump(model, tmp), use_case, store)


def store_file(source: Path, use_case: str, store: Path | None = None) -> tuple[str, str]:
    """Copy a model file byte for byte into the store, read-only (a model trained elsewhere keeps the sha256 of
    the file its author has); return (path relative to the store, sha256)."""
    return _store(lambda tmp: shutil.copyfile(source, tmp), use_case, store)


def _store(write: Callable[[Path], Any], use_case: str, store: Path | None) -> tuple[str, str]:
    """Write an artifact through ``write`` to a temporary file, then move it to its content address."""
    store = store or load_settings().model_store
    folder = store / use_case
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".joblib.tmp", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    try:
        write(tmp_path)
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


def load_artifact(mv: RegisteredArtifact, *, allow_sklearn_mismatch: bool = False, store: Path | None = None) -> Any:
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
