"""Shard assignment and shard configuration (pure)."""

import collections
import tomllib

import pytest

from pipeline.config.loading import UseCaseError, load_usecase, parse_usecase
from pipeline.config.paths import project_root
from pipeline.config.settings import env_name
from pipeline.scoring.shards import ShardError, check_count, check_shard, combine, plan, shard_count, shard_of

SHARDS_ENV = env_name("shards")


def test_shard_of_is_pinned_to_md5_so_it_never_changes_between_runs_or_machines():
    # md5('abc') starts with 900150983 -> 0x90015098 = 2416005272
    assert [shard_of("abc", n) for n in (1, 2, 3, 7)] == [0, 0, 2, 2]
    assert [shard_of("AA11-JFK", n) for n in (2, 3, 7)] == [1, 1, 4]
    assert [shard_of("UA1545-EWR", n) for n in (2, 3, 7)] == [0, 2, 0]


@pytest.mark.parametrize("count", [1, 2, 3, 8])
def test_every_entity_lands_in_exactly_one_shard_and_shards_are_balanced(count):
    ids = [f"E{i:07d}" for i in range(20_000)]
    assigned = {e: shard_of(e, count) for e in ids}
    assert set(assigned.values()) == set(range(count))
    assert all(0 <= s < count for s in assigned.values())
    sizes = collections.Counter(assigned.values())
    assert sum(sizes.values()) == len(ids)  # every id once
    assert max(sizes.values()) - min(sizes.values()) < 0.1 * len(ids) / count


def test_shard_count_comes_from_the_env_var_first_then_the_use_case_then_one(monkeypatch):
    uc = load_usecase("flight_cancellation")
    monkeypatch.delenv(SHARDS_ENV, raising=False)
    assert shard_count(uc) == uc.scoring.shards == 1
    raw = tomllib.loads((project_root() / "usecases" / "flight_cancellation.toml").read_text())
    raw["scoring"] = {"shards": 3}
    three = parse_usecase(raw, uc.path)
    assert shard_count(three) == 3
    monkeypatch.setenv(SHARDS_ENV, "2")
    assert shard_count(three) == 2


@pytest.mark.parametrize("value", ["two", "0", "-1", "65", "1.5", ""])
def test_a_bad_shard_count_in_the_env_is_a_clear_error(monkeypatch, value):
    uc = load_usecase("flight_cancellation")
    monkeypatch.setenv(SHARDS_ENV, value)
    if value == "":
        assert shard_count(uc) == 1  # empty means unset
        return
    with pytest.raises(
        ShardError,
        match=rf"BATCHSCORE_SHARDS must be a whole number of shards from 1 to 64, "
        rf"got '{value}'",
    ):
        shard_count(uc)


@pytest.mark.parametrize("value", [0, 65, "2", True])
def test_a_bad_shard_count_in_the_use_case_names_file_and_key(value):
    path = project_root() / "usecases" / "flight_cancellation.toml"
    raw = tomllib.loads(path.read_text())
    raw["scoring"] = {"shards": value}
    with pytest.raises(UseCaseError, match=r"flight_cancellation.toml: 'scoring.shards' must be"):
        parse_usecase(raw, path)


def test_plan_lists_every_shard_once_and_checks_its_entries():
    assert plan(2) == [{"index": 0, "count": 2}, {"index": 1, "count": 2}]
    assert [check_shard(s) for s in plan(3)] == [(0, 3), (1, 3), (2, 3)]
    assert check_shard(None) == (0, 1)
    for bad in ({"index": 4, "count": 4}, {"index": "0", "count": 2}, {"index": 0, "count": 0}, {"index": 0}):
        with pytest.raises(ShardError):
            check_shard(bad)
    with pytest.raises(ShardError, match="from 1 to 64"):
        check_count(None, source="shards")


def _result(shard, count, version="v1", rows=10, seconds=1.0):
    return {
        "shard": shard,
        "shards": count,
        "model_version": version,
        "model_sha256": "a" * 64,
        "threshold": 0.5,
        "rows": rows,
        "seconds": seconds,
        "chunks": 1,
    }


def test_combine_adds_up_all_shards_and_takes_the_slowest_as_the_time():
    combined = combine([_result(1, 2, rows=7, seconds=2.0), _result(0, 2, rows=5, seconds=1.0)])
    assert (combined["rows"], combined["seconds"], combined["shards"], combined["chunks"]) == (12, 2.0, 2, 2)
    assert combine(_result(0, 1))["shards"] == 1


def test_combine_refuses_a_missing_or_duplicated_shard_or_mixed_models():
    with pytest.raises(ShardError, match=r"shards 0..2 once each, got shards \[0, 2\]"):
        combine([_result(0, 3), _result(2, 3)])
    with pytest.raises(ShardError, match="once each"):
        combine([_result(0, 2), _result(0, 2)])
    with pytest.raises(ShardError, match="different models"):
        combine([_result(0, 2), _result(1, 2, version="v2")])
    with pytest.raises(ShardError, match="no shard"):
        combine([])
