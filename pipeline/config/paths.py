"""Where the project's declarative files live: ``sql/``, ``usecases/``, ``expectations/``, ``dags/``."""

from __future__ import annotations

from pathlib import Path

from pipeline.config.root import project_root
from pipeline.config.settings import load_settings

__all__ = ["dags_dir", "expectations_dir", "project_root", "sql_dir", "usecases_dir"]


def sql_dir() -> Path:
    """``sql/``: every SQL statement the project runs, one object per file."""
    return project_root() / "sql"


def usecases_dir() -> Path:
    """``usecases/``: one TOML declaration per use case (``BATCHSCORE_USECASES_DIR`` when set)."""
    folder = load_settings(refuse_unknown=False).usecases_dir
    return folder.resolve() if folder is not None else project_root() / "usecases"


def expectations_dir() -> Path:
    """``expectations/``: the Great Expectations suites, one per dataset."""
    return project_root() / "expectations"


def dags_dir() -> Path:
    """``dags/``: the thin Airflow DAG files."""
    return project_root() / "dags"
