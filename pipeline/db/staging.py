"""Run-scoped staging tables: where one run's batch, features and scores live until publish, and their janitor.

Every table of a run ends with the run's key (a hash of use case, date and run id), and the key is registered
in ``batchscore.staging_runs`` (this module is its only writer) when the run starts. A run drops its tables when
it publishes, is rejected or fails for good; the tables of a run that died (killed, its machine lost) are dropped
by the next run once they are older than ``BATCHSCORE_STAGING_MAX_AGE_HOURS``, or by
``batchscore db vacuum-staging``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.db.schema import STAGING_SCHEMA, staging
from pipeline.db.sql import load_sql

KINDS = ("batch", "features", "scores", "freshness", "shadow")


@dataclass(frozen=True)
class StagingTables:
    """Names of one run's working tables; the same (use case, date, run id) always maps to the same names."""

    batch: str
    features: str
    scores: str
    freshness: str
    shadow: str
    names: dict[str, str]  # kind -> bare table name in STAGING_SCHEMA (for tools that quote themselves)
    key: str  # what every table name of the run ends with

    def all(self) -> tuple[str, ...]:
        return (self.batch, self.features, self.scores, self.freshness, self.shadow)

    def shard_scores_name(self, index: int, count: int) -> str:
        """Bare name of the scores table of shard ``index`` of ``count`` (one shard: the run's scores table)."""
        return self.names["scores"] if count == 1 else f"{self.names['scores']}_s{index}"

    def shard_scores(self, index: int, count: int) -> str:
        """Quoted, qualified :meth:`shard_scores_name`."""
        return staging(self.shard_scores_name(index, count))


def staging_tables(use_case: str, score_date: dt.date, run_id: str) -> StagingTables:
    """Quoted, qualified staging table names for a run (a retry of the run reuses them)."""
    key = hashlib.sha256(f"{use_case}\0{score_date.isoformat()}\0{run_id}".encode()).hexdigest()[:12]
    names = {kind: f"{kind}_{score_date:%Y%m%d}_{key}" for kind in KINDS}
    return StagingTables(**{kind: staging(name) for kind, name in names.items()}, names=names, key=key)


def drop_staging(engine: Engine, tables: StagingTables) -> None:
    """Drop a run's working tables, shard scores tables included (after publish, or before a fresh extract)."""
    drop_run_tables(engine, tables.key)


def register_run(
    engine: Engine, key: str, *, use_case: str, run_id: str, kind: str, score_date: dt.date | None = None
) -> None:
    """Record that a run is creating staging tables under ``key`` (a retry refreshes its age)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(load_sql("db/register_staging_run.sql")),
            {"k": key, "u": use_case, "d": score_date, "r": run_id, "kind": kind},
        )


def run_table_names(conn: Connection, key: str) -> list[str]:
    """The bare names of the staging tables of the run with ``key`` (its shard tables included)."""
    return list(conn.execute(sa.text(load_sql("db/staging_run_tables.sql")), {"s": STAGING_SCHEMA, "k": key}).scalars())


def drop_run_tables(engine: Engine, key: str) -> list[str]:
    """Drop every staging table of the run with ``key`` and forget the run; returns the tables dropped."""
    with engine.begin() as conn:
        names = run_table_names(conn, key)
        if names:
            conn.execute(sa.text(f"drop table if exists {', '.join(staging(n) for n in names)}"))
        conn.execute(sa.text(load_sql("db/forget_staging_run.sql")), {"k": key})
    return names


def vacuum_staging(
    engine: Engine, older_than: dt.timedelta, *, keep: str | None = None, unregistered: bool = False
) -> list[str]:
    """Drop the staging tables of runs registered more than ``older_than`` ago (runs that died), except the run
    with key ``keep``; with ``unregistered``, also the run tables no run registered (left by a version before
    the registry: ``batchscore db vacuum-staging``). Returns the tables dropped."""
    with engine.connect() as conn:
        keys = (
            conn.execute(sa.text(load_sql("db/abandoned_staging_runs.sql")), {"age": older_than, "keep": keep})
            .scalars()
            .all()
        )
    dropped: list[str] = []
    for key in keys:
        dropped += drop_run_tables(engine, key)
    if unregistered:
        # a registered run writes its registry row before its first table and deletes it with its last one
        # (one transaction), so a run table without a row belongs to no live run of this version
        with engine.begin() as conn:
            names = list(
                conn.execute(sa.text(load_sql("db/unregistered_staging_tables.sql")), {"s": STAGING_SCHEMA}).scalars()
            )
            if names:
                conn.execute(sa.text(f"drop table if exists {', '.join(staging(n) for n in names)}"))
        dropped += names
    return dropped


def count_rows(engine: Engine, table: str, where: str = "") -> int:
    """Row count of a staging table (name from :func:`staging_tables`; ``where``: a clause built by us)."""
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"select count(*) from {table}{where}")).scalar_one())  # noqa: S608


def training_key(use_case: str, run_id: str) -> str:
    """What every staging table name of a training run ends with."""
    return hashlib.sha256(f"{use_case}\0train\0{run_id}".encode()).hexdigest()[:12]


def training_tables(use_case: str, run_id: str) -> dict[str, tuple[str, str]]:
    """(quoted qualified name, bare name) of a training run's training, holdout and holdout-scores tables."""
    key = training_key(use_case, run_id)
    return {kind: (staging(f"{kind}_{key}"), f"{kind}_{key}") for kind in ("training", "holdout", "scores")}
