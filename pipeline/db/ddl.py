"""DDL on objects that readers use (BI views, grants, tables under migration), done without hanging behind them.

A DDL statement waits for every lock it conflicts with, and while it waits every new reader of the object queues
behind it: one dashboard session idle in a transaction would stall the pipeline and every other reader. So each
try runs with a short ``lock_timeout``; a try that times out is rolled back and repeated with growing pauses,
up to a budget; then :class:`DdlLockTimeout` names the sessions in the way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.db.sql import load_sql
from pipeline.errors import TransientError

log = logging.getLogger(__name__)

DDL_LOCK_TIMEOUT = "2s"  # the longest one try makes the object's readers queue behind it
LOCK_NOT_AVAILABLE = "55P03"
T = TypeVar("T")


class DdlLockTimeout(TransientError):
    """Other sessions kept an object busy for longer than the DDL on it may wait; nothing was changed."""


def lock_holders(engine: Engine, relation: str) -> str:
    """Who holds a lock on ``relation`` now: pid, state, application and age; never a query's text."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(load_sql("predictions/lock_holders.sql")), {"t": relation}).all()
    return ", ".join(
        f"pid {pid} ({state or 'unknown state'}{f', {app!r}' if app else ''}, transaction open {age} s)"
        for pid, state, app, age in rows[:5]
    )


def with_lock_timeout(
    engine: Engine, work: Callable[[Connection], T], *, what: str, relation: str, budget_s: float
) -> T:
    """Run ``work`` in a transaction whose lock waits end after :data:`DDL_LOCK_TIMEOUT`; retry such a timeout with
    growing pauses for up to ``budget_s`` seconds, then raise :class:`DdlLockTimeout` naming the holders of
    ``relation`` (a quoted name, for the message)."""
    deadline, attempt = time.monotonic() + budget_s, 0
    while True:
        attempt += 1
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("select set_config('lock_timeout', :t, true)"), {"t": DDL_LOCK_TIMEOUT})
                return work(conn)
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "pgcode", None) != LOCK_NOT_AVAILABLE:
                raise
            holders = lock_holders(engine, relation) or "other sessions"
            if time.monotonic() >= deadline:
                raise DdlLockTimeout(
                    f"{what}: could not lock {relation} in {budget_s:g} s ({attempt} tries): {holders} kept it busy; "
                    "nothing was changed"
                ) from None
            pause = min(0.5 * 2 ** (attempt - 1), 15.0, max(deadline - time.monotonic(), 0.1))
            log.warning("%s waited %s for %s; trying again in %.1f s", what, DDL_LOCK_TIMEOUT, holders, pause)
            time.sleep(pause)
