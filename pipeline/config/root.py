"""The checkout this package lives in: the one fact both the settings and the project's paths start from."""

from __future__ import annotations

from pathlib import Path


def project_root() -> Path:
    """The checkout this package lives in (holds ``sql/``, ``usecases/``, ``expectations/``, ``dags/``)."""
    return Path(__file__).resolve().parent.parent.parent
