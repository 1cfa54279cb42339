"""Settings, read from the environment each time they are asked for (never at import)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATABASE_URL_ENV = "BATCHSCORE_DATABASE_URL"
HOME_ENV = "BATCHSCORE_HOME"
USECASE_ENV = "BATCHSCORE_USECASE"
MODEL_STORE_ENV = "BATCHSCORE_MODEL_STORE"
CHUNK_ROWS_ENV = "BATCHSCORE_CHUNK_ROWS"

DEFAULT_USECASE = "flight_cancellation"
DEFAULT_CHUNK_ROWS = 50_000


def project_root() -> Path:
    """The checkout this package lives in (holds ``sql/``, ``usecases/``, ``expectations/``, ``dags/``)."""
    return Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    home: Path
    usecase: str
    model_store: Path
    chunk_rows: int

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"


def load_settings() -> Settings:
    """Read the settings from the environment now."""
    home = Path(os.environ.get(HOME_ENV) or project_root() / ".batchscore").resolve()
    chunk_raw = os.environ.get(CHUNK_ROWS_ENV, str(DEFAULT_CHUNK_ROWS))
    try:
        chunk_rows = int(chunk_raw)
    except ValueError:
        raise ValueError(f"{CHUNK_ROWS_ENV} must be a positive integer, got {chunk_raw!r}") from None
    if chunk_rows <= 0:
        raise ValueError(f"{CHUNK_ROWS_ENV} must be a positive integer, got {chunk_rows}")
    return Settings(
        database_url=os.environ.get(DATABASE_URL_ENV) or None,
        home=home,
        usecase=os.environ.get(USECASE_ENV) or DEFAULT_USECASE,
        model_store=Path(os.environ.get(MODEL_STORE_ENV) or home / "models").resolve(),
        chunk_rows=chunk_rows,
    )
