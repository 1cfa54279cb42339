"""Which use case owns each predictions and shadow table: the registry ``batchscore.output_tables``.

A table that holds a use case's scores belongs to exactly one use case. The loader refuses two TOML files in
``usecases/`` that name one table (:func:`pipeline.config.loading.table_claim_problems`); this module keeps the rule
where the tables live, for use cases the loader cannot compare (loaded from elsewhere, or from another checkout):
:func:`claim_output_table` runs at the start of every function that creates or uses such a table, claims it for the
use case in the caller's transaction (so a table and its claim are committed together), and refuses any other use
case afterwards. A table made before the registry existed is claimed by the first use case that touches it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipeline.config.usecase import UseCase
from pipeline.db.schema import SCHEMA
from pipeline.db.sql import read_sql
from pipeline.errors import PipelineStateError

Role = Literal["predictions", "shadow"]
#: the [output] key that names each role's table
ROLE_KEYS: dict[str, str] = {"predictions": "output.predictions_table", "shadow": "output.shadow_table"}


class TableOwnershipError(PipelineStateError):
    """A use case names a predictions or shadow table that another use case owns; nothing was written to it."""


@dataclass(frozen=True)
class Claim:
    """One row of ``batchscore.output_tables``: a table, its owner, and where the owner declared it."""

    table: str
    use_case: str
    role: str
    declared_in: str
    claimed_at: dt.datetime


def output_table(uc: UseCase, role: Role) -> str:
    """The bare name of the use case's table for ``role``."""
    return uc.output.predictions_table if role == "predictions" else uc.output.shadow_table


def owner_of(conn: Connection, table_name: str) -> Claim | None:
    """The claim on a table of schema batchscore (its bare name), or None while nobody has claimed it."""
    row = conn.execute(sa.text(read_sql("db/output_table_owner.sql")), {"table_name": table_name}).one_or_none()
    return None if row is None else Claim(table_name, row.use_case, row.role, row.declared_in, row.claimed_at)


def claim_output_table(conn: Connection, uc: UseCase, role: Role) -> None:
    """Claim the use case's ``role`` table in the caller's transaction, or refuse when another use case owns it.

    One indexed read when the claim exists (every shard and every night call it). Two first claims racing for
    one table are ordered by its primary key: the second waits for the first to commit and then sees its owner.
    """
    name = output_table(uc, role)
    claim = owner_of(conn, name)
    if claim is None:
        conn.execute(
            sa.text(read_sql("db/claim_output_table.sql")),
            {"table_name": name, "use_case": uc.name, "role": role, "declared_in": str(uc.path)},
        )
        claim = owner_of(conn, name)
    if claim is not None and claim.use_case != uc.name:
        raise TableOwnershipError(refusal(uc, role, claim))


def refusal(uc: UseCase, role: Role, claim: Claim) -> str:
    """The one line that refuses ``uc`` the table ``claim`` gives to another use case."""
    theirs = "predictions table" if claim.role == "predictions" else "shadow table"
    return (
        f"{SCHEMA}.{claim.table} belongs to use case {claim.use_case!r} (its {theirs}, claimed "
        f"{claim.claimed_at:%Y-%m-%d %H:%M} from {claim.declared_in}); use case {uc.name!r} cannot use it: "
        f"change '{ROLE_KEYS[role]}' in {uc.path} to a table of its own"
    )


def ownership_problems(conn: Connection, uc: UseCase) -> list[str]:
    """The use case's tables that another use case owns, one line each; read-only (``batchscore check``).

    A database the registry's migration has not reached yet has no claims, hence no problem.
    """
    if conn.execute(sa.text("select to_regclass('batchscore.output_tables') is not null")).scalar_one() is not True:
        return []
    problems = []
    for role in ("predictions", "shadow"):
        claim = owner_of(conn, output_table(uc, role))
        if claim is not None and claim.use_case != uc.name:
            problems.append(refusal(uc, role, claim))
    return problems
