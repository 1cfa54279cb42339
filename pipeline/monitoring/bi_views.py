"""Keeping the BI contract current for a use case: its predictions table, its views, the shared views, grants."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from pipeline.config.usecase import UseCase
from pipeline.db import bi
from pipeline.db.locks import Lock, advisory_lock
from pipeline.db.predictions import ensure_predictions_table


def ensure_bi_views(engine: Engine, uc: UseCase) -> list[str]:
    """Every BI view (the use case's and the shared ones) and the BI role's grants; returns the view names."""
    with engine.begin() as conn:
        advisory_lock(conn, Lock.BI_VIEWS)
        bi.apply_global_views(conn)
        ensure_predictions_table(conn, uc)
        bi.apply_usecase_view_files(conn, uc)
        bi.grant_bi_access(conn)
    return [*bi.usecase_view_names(uc).values(), *bi.GLOBAL_VIEWS]
