"""Validate: the fail-closed gate on the run's staged batch, with the categories the champion knows."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine

from pipeline.config.usecase import UseCase
from pipeline.contracts import Validation
from pipeline.model.artifacts import ModelError
from pipeline.model.registry import get_champion
from pipeline.validation.gate import validate_staged_batch


def validate_batch(engine: Engine, uc: UseCase, score_date: dt.date, run_id: str, rows: int | None) -> Validation:
    """Run the gate on the staged batch; raises ``ValidationFailed`` (ledger row ``rejected``) on a critical
    failure. The categories check compares with the champion's training categories (none before the first model).
    """
    try:
        known = get_champion(engine, uc.name).known_categories()
    except ModelError:
        known = {}  # no champion yet: nothing to compare categories with
    return validate_staged_batch(engine, uc, score_date, run_id, rows=rows, known_categories=known)
