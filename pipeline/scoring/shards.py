"""Sharded scoring: one batch split into N parts by a stable hash of the entity id.

The shard of an entity is ``first 32 bits of md5(entity_id) mod N``: the same in Python (:func:`shard_of`) and in
Postgres (:func:`shard_expression`), the same on every run and every machine, and every row lands in exactly one
shard. N comes from ``BATCHSCORE_SHARDS`` when set, else from the use case's ``[scoring] shards``, else 1.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pipeline.config.settings import MAX_SHARDS, SettingsError, load_settings
from pipeline.config.usecase import UseCase
from pipeline.contracts import CombinedScores, Scores, Shard
from pipeline.errors import BatchscoreError

#: the column build_features adds to the run's features table when a run has more than one shard
SHARD_COLUMN = "batchscore_shard"


class ShardError(BatchscoreError, ValueError):
    """A shard count, a shard spec or a set of shard results that cannot be used (then nothing is published);
    the message says which setting or shard is wrong."""


def check_count(value: Any, *, source: str) -> int:
    """A shard count as an int in 1..MAX_SHARDS, or a clear error naming where it came from."""
    if isinstance(value, bool):
        value = repr(value)
    try:
        count = int(str(value).strip()) if isinstance(value, str) else value
    except ValueError:
        count = None
    if not isinstance(count, int) or not 1 <= count <= MAX_SHARDS:
        raise ShardError(f"{source} must be a whole number of shards from 1 to {MAX_SHARDS}, got {value!r}")
    return count


def shard_count(uc: UseCase) -> int:
    """N for a run of use case ``uc``: ``BATCHSCORE_SHARDS`` (read now) wins over ``[scoring] shards``."""
    try:
        from_env = load_settings().shards
    except SettingsError as exc:
        raise ShardError(str(exc)) from None
    return from_env if from_env is not None else uc.scoring.shards


def shard_of(entity_id: str, count: int) -> int:
    """The shard of one entity id (pure; mirrors :func:`shard_expression`)."""
    return int(hashlib.md5(entity_id.encode("utf-8"), usedforsecurity=False).hexdigest()[:8], 16) % count


def shard_expression(column_sql: str, count: int) -> str:
    """SQL for the shard of ``column_sql`` (a quoted column name) among ``count`` shards."""
    count = check_count(count, source="shard count")
    return f"mod(('x' || substr(md5(cast({column_sql} as text)), 1, 8))::bit(32)::bigint, {count})::smallint"


def plan(count: int) -> list[Shard]:
    """What the mapped ``score`` tasks expand over: one small dict per shard."""
    count = check_count(count, source="shard count")
    return [Shard(index=i, count=count) for i in range(count)]


def check_shard(shard: Shard | dict[str, Any] | None) -> tuple[int, int]:
    """(index, count) of a shard dict from :func:`plan` (None: the whole batch, (0, 1))."""
    if shard is None:
        return 0, 1
    count = check_count(shard.get("count"), source="shard count")
    index = shard.get("index")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
        raise ShardError(f"shard index must be from 0 to {count - 1}, got {index!r}")
    return index, count


def combine(results: Scores | list[Scores]) -> CombinedScores:
    """One score result out of the shards' results (a single result passes through).

    Refuses (nothing may be published) unless every shard 0..N-1 reported exactly once and all were scored by
    the same model version with the same threshold.
    """
    parts: list[Scores] = [results] if isinstance(results, dict) else list(results)
    if not parts:
        raise ShardError("no shard reported scores")
    count = parts[0].get("shards", 1)
    indexes = sorted(p.get("shard", 0) for p in parts)
    if indexes != list(range(count)) or any(p.get("shards", 1) != count for p in parts):
        raise ShardError(f"expected scores of shards 0..{count - 1} once each, got shards {indexes}")
    models = {(p["model_version"], p["model_sha256"], p["threshold"]) for p in parts}
    if len(models) != 1:
        raise ShardError(
            "the shards were scored by different models "
            f"({', '.join(sorted(m[0] for m in models))}): re-run the whole date"
        )
    rows = sum(p["rows"] for p in parts)
    seconds = max(p["seconds"] for p in parts)
    first = parts[0]
    return CombinedScores(
        model_version=first["model_version"],
        model_sha256=first["model_sha256"],
        threshold=first["threshold"],
        rows=rows,
        seconds=seconds,
        shards=count,
        chunks=sum(p.get("chunks", 0) for p in parts),
        rows_per_second=round(rows / seconds, 1) if seconds > 0 else float("nan"),
    )
