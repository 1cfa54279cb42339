"""Run-scoped staging tables: where one run's batch, features and scores live until publish."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.db.schema import STAGING_SCHEMA, staging

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
    return StagingTables(**{kind: staging(name) for kind, name in names.items()}, names=names)


def drop_staging(engine: Engine, tables: StagingTables) -> None:
    """Drop a run's working tables, shard scores tables included (after publish, or before a fresh extract)."""
    with engine.begin() as conn:
        shard_tables = (
            conn.execute(
                sa.text("select tablename from pg_tables where schemaname = :s and tablename like :p"),
                {"s": STAGING_SCHEMA, "p": tables.names["scores"] + "\\_s%"},
            )
            .scalars()
            .all()
        )
        names = [*tables.all(), *(staging(t) for t in shard_tables)]
        conn.execute(sa.text(f"drop table if exists {', '.join(names)}"))


def count_rows(engine: Engine, table: str, where: str = "") -> int:
    """Row count of a staging table (name from :func:`staging_tables`; ``where``: a clause built by us)."""
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"select count(*) from {table}{where}")).scalar_one())  # noqa: S608


def training_tables(use_case: str, run_id: str) -> dict[str, tuple[str, str]]:
    """(quoted qualified name, bare name) of a training run's training, holdout and holdout-scores tables."""
    key = hashlib.sha256(f"{use_case}\0train\0{run_id}".encode()).hexdigest()[:12]
    return {kind: (staging(f"{kind}_{key}"), f"{kind}_{key}") for kind in ("training", "holdout", "scores")}
