"""Point-in-time training sets, staged in PostgreSQL: built by the very queries scoring uses, gated by the
training suite there, loaded into memory only to fit or evaluate, and dropped afterwards.

One training run owns three staging tables (training, holdout, the holdout's scores; names from
:func:`pipeline.db.staging.training_tables`). In one process use :func:`staged_training_sets`, which drops them
however the block ends; a retraining spread over several Airflow tasks uses :class:`TrainingSets` and drops them
in its last step.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.config.usecase import UseCase
from pipeline.db.queries import training_query
from pipeline.db.staging import drop_run_tables, register_run, training_key, training_tables

log = logging.getLogger(__name__)

Kind = str  # "training", "holdout" or "scores"


def label_cutoff(holdout_to: dt.date) -> dt.datetime:
    """The moment all labels of the holdout's last day are known: the evening after it (UTC)."""
    return dt.datetime.combine(holdout_to + dt.timedelta(days=1), dt.time(22, 0), tzinfo=dt.UTC)


class TrainingSets:
    """The staged training, holdout and holdout-scores tables of one training run."""

    def __init__(self, engine: Engine, uc: UseCase, run_id: str) -> None:
        self.engine, self.uc, self.run_id = engine, uc, run_id
        self.tables = training_tables(uc.name, run_id)

    def quoted(self, kind: Kind) -> str:
        """The quoted, qualified name of one of the run's tables."""
        return self.tables[kind][0]

    def materialise(self, kind: Kind, date_from: dt.date, date_to: dt.date, known_at: dt.datetime) -> int:
        """(Re)create the ``kind`` table with the point-in-time training query; return its row count."""
        table = self.quoted(kind)
        register_run(
            self.engine,
            training_key(self.uc.name, self.run_id),
            use_case=self.uc.name,
            run_id=self.run_id,
            kind="train",
        )
        with self.engine.begin() as conn:
            conn.execute(sa.text(f"drop table if exists {table}"))
            conn.execute(
                sa.text(f"create unlogged table {table} as {training_query(self.uc)}"),
                {"date_from": date_from, "date_to": date_to, "known_at": known_at},
            )
            rows = int(conn.execute(sa.text(f"select count(*) from {table}")).scalar_one())  # noqa: S608
        log.info("%s set of %s: %d rows for %s..%s", kind, self.uc.name, rows, date_from, date_to)
        return rows

    def validate(self, kind: Kind) -> str:
        """Put the staged set through the training suite; raises ``ValidationFailed`` before any fit."""
        from pipeline.validation.gate import validate_training_table

        return validate_training_table(self.engine, self.uc, self.tables[kind][1], dataset=kind, run_id=self.run_id)[
            "status"
        ]

    def load(self, kind: Kind) -> pd.DataFrame:
        """A staged set as a frame, in a stable order (reproducible fits)."""
        with self.engine.connect() as conn:
            return pd.read_sql(
                sa.text(f"select * from {self.quoted(kind)} order by score_date, entity_id"),  # noqa: S608
                conn,
            )

    def drop(self) -> None:
        """Drop every table of the run and forget it (idempotent)."""
        drop_run_tables(self.engine, training_key(self.uc.name, self.run_id))


@contextmanager
def staged_training_sets(engine: Engine, uc: UseCase, run_id: str) -> Iterator[TrainingSets]:
    """The run's training tables, dropped when the block ends, whether it succeeds or fails."""
    sets = TrainingSets(engine, uc, run_id)
    try:
        yield sets
    finally:
        sets.drop()
