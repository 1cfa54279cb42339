"""Keeping the BI contract current for a use case: its predictions table, its views, the shared views, grants.

The steady state is read-only: each view carries the fingerprint of the statement it was made from, so after a
night nothing is re-created and no dashboard session is ever waited for. Only a missing or changed view, or
grants that drifted, take the BI-views lock and run DDL, with a short lock timeout and bounded retries.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.config.settings import load_settings
from pipeline.config.usecase import UseCase
from pipeline.db import bi
from pipeline.db.ddl import with_lock_timeout
from pipeline.db.locks import Lock, advisory_lock
from pipeline.db.predictions import ensure_predictions_table, predictions_table


def ensure_bi_views(engine: Engine, uc: UseCase, *, refresh: bool = False) -> list[str]:
    """Every BI view (the use case's and the shared ones) and the BI role's grants, current; returns the view
    names. ``refresh`` re-creates them and re-applies the grants whether or not they look current."""
    views = [*bi.usecase_views(uc), *bi.global_views()]
    with engine.connect() as conn:
        kind = conn.execute(
            sa.text("select relkind from pg_class where oid = to_regclass(:t)"), {"t": predictions_table(uc)}
        ).scalar()
        stale = views if refresh else bi.stale_views(conn, views)
        grants = refresh or bi.grants_needed(conn)
    if kind == "p" and not stale and not grants:
        return [*bi.usecase_view_names(uc).values(), *bi.GLOBAL_VIEWS]

    def work(conn: Connection) -> None:
        advisory_lock(conn, Lock.BI_VIEWS)
        ensure_predictions_table(conn, uc)
        bi.apply_views(conn, views if refresh else bi.stale_views(conn, views))
        if refresh or bi.grants_needed(conn):
            bi.grant_bi_access(conn)

    with_lock_timeout(
        engine,
        work,
        what=f"{uc.name}: the BI views",
        relation=predictions_table(uc),
        budget_s=load_settings().publish_lock_wait_s,
    )
    return [*bi.usecase_view_names(uc).values(), *bi.GLOBAL_VIEWS]
