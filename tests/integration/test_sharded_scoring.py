"""Sharded scoring without Airflow: Postgres assigns shards exactly as Python does, and N shards publish
exactly the predictions of one."""

import datetime as dt

import pytest
import sqlalchemy as sa

from pipeline import tasks
from pipeline.cli import main
from pipeline.scoring.shards import shard_expression, shard_of
from tests.helpers import flights_on, ledger, predictions_fingerprint

DAY = dt.date(2013, 7, 9)


def test_postgres_assigns_every_entity_the_shard_python_computes(engine):
    ids = [f"E{i}" for i in range(5000)] + ["UA1545-EWR", "AA11-JFK", "", "é-ünïcode"]
    with engine.connect() as conn:
        for count in (2, 3, 7):
            rows = conn.execute(
                sa.text(f"select e, {shard_expression('e', count)} from unnest(cast(:ids as text[])) as e"),
                {"ids": ids},
            ).all()
            assert {e: s for e, s in rows} == {e: shard_of(e, count) for e in ids}


def test_three_shards_publish_exactly_the_predictions_of_one(champion, source):
    tasks.run_night(DAY.isoformat(), "run-one-shard", shards=1)
    one = predictions_fingerprint(source, DAY)
    result = tasks.run_night(DAY.isoformat(), "run-three-shards", shards=3)
    three = predictions_fingerprint(source, DAY)
    assert result["shards"] == 3 and result["rows"] == flights_on(source, DAY)
    assert three[:2] == one[:2] and three[2] == "run-three-shards"
    [row] = ledger(source, "run-three-shards")
    assert row["status"] == "succeeded" and row["rows_out"] == one[0]
    with source.connect() as conn:
        leftovers = conn.execute(
            sa.text(
                "select count(*) from pg_tables where schemaname = 'batchscore_staging' and tablename like '%20130709%'"
            )
        ).scalar()
    assert leftovers == 0


def test_publish_refuses_when_a_shard_is_missing_and_keeps_the_date(champion, source):
    from pipeline.scoring.shards import ShardError

    tasks.run_night(DAY.isoformat(), "run-before-missing-shard")
    before = predictions_fingerprint(source, DAY)
    batch = tasks.extract(DAY.isoformat(), "run-missing-shard")
    validation, features = tasks.validate(batch), tasks.build_features(batch, shards=2)
    only_first = [tasks.score(batch, tasks.shard_plan(features)[0])]
    with pytest.raises(ShardError, match=r"expected scores of shards 0..1 once each, got shards \[0\]"):
        tasks.publish(batch, validation, features, only_first, tasks.shadow_score(batch))
    posing_as_whole = [{**only_first[0], "shards": 1}]  # a result that claims to be the whole batch
    with pytest.raises(ShardError, match=r"planned 2 shard\(s\) but scores came from 1; nothing published"):
        tasks.publish(batch, validation, features, posing_as_whole, tasks.shadow_score(batch))
    assert predictions_fingerprint(source, DAY) == before


def test_cli_score_takes_a_shard_count_and_rejects_a_bad_one(champion, source, capsys):
    assert main(["score", "--date", DAY.isoformat(), "--shards", "2", "--run-id", "cli-two-shards"]) == 0
    assert '"shards": 2' in capsys.readouterr().out
    assert predictions_fingerprint(source, DAY)[2] == "cli-two-shards"
    with pytest.raises(SystemExit):
        main(["score", "--date", DAY.isoformat(), "--shards", "0"])
    assert "--shards must be a whole number of shards from 1 to 64, got '0'" in capsys.readouterr().err
