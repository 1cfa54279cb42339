"""Every PostgreSQL advisory lock batchscore takes, in one registry, with the order they must be taken in.

All are transaction-level locks (``pg_advisory_xact_lock``): they are released by the commit or rollback of the
transaction that took them, so a killed process can never leave one behind. A lock is taken on a key pair
(:class:`Lock`, ``hashtext(<scope>)``), the scope naming what is locked (a use case, a use case and a date).

Acquisition order: within one transaction, locks are taken in the order :class:`Lock` declares them (its
``rank``; the key numbers are historical and do not follow it), never the other way round, so two transactions can
never wait for each other in a cycle. :func:`advisory_lock` enforces it.
"""

from __future__ import annotations

from enum import IntEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipeline.errors import BatchscoreError

_HELD = "batchscore_advisory_locks"  # Connection.info key: (transaction, [locks held in it])


class Lock(IntEnum):
    """The advisory lock keys, declared in acquisition order (the earlier first)."""

    MIGRATIONS = 7_146_001  # the schema: one migrator at a time
    BI_VIEWS = 7_146_005  # CREATE OR REPLACE VIEW and GRANT on the BI views (concurrent ones fail)
    PREDICTIONS_TABLE = 7_146_004  # per use case: creating or converting its predictions table
    PUBLISH_DATE = 7_146_003  # per (use case, date): the swap of the date's partition and its ledger row
    MODEL_REGISTRY = 7_146_002  # per use case: new model versions and champion changes
    DRIFT_DATE = 7_146_006  # per (use case, date): replacing a run's drift metrics

    @property
    def rank(self) -> int:
        """The lock's place in the acquisition order."""
        return list(Lock).index(self)


class LockOrderError(BatchscoreError, RuntimeError):
    """A transaction asked for an advisory lock that ranks before one it already holds (a deadlock risk)."""


def advisory_lock(conn: Connection, lock: Lock, scope: str = "") -> None:
    """Take ``lock`` for ``scope`` until the transaction on ``conn`` ends (waits while another holds it)."""
    transaction = conn.get_transaction() or conn.begin()  # a connection without begin() gets its transaction now
    owner, held = conn.info.get(_HELD, (None, []))
    if owner is not transaction:
        held = []
    later = [h for h in held if h.rank > lock.rank]
    if later:
        raise LockOrderError(
            f"advisory lock {lock.name} requested after {later[0].name}: take locks in the order "
            "of pipeline.db.locks.Lock"
        )
    conn.execute(sa.text("select pg_advisory_xact_lock(:k, hashtext(:scope))"), {"k": int(lock), "scope": scope})
    conn.info[_HELD] = (transaction, [*held, lock])
