"""A predictions or shadow table belongs to one use case, and the database says which: a second use case naming
it is refused at score and publish, and the owner's rows stay as they were."""

import datetime as dt
import json
import re

import pytest
import sqlalchemy as sa

from pipeline import tasks
from pipeline.config.loading import load_usecase
from pipeline.config.paths import project_root, sql_dir
from pipeline.db.ownership import TableOwnershipError, owner_of
from pipeline.db.predictions import create_staged_predictions, ensure_predictions_table, ensure_shadow_table
from pipeline.db.schema import staging
from pipeline.model.train import train_and_register
from tests.helpers import ledger, predictions_fingerprint

DAY = dt.date(2013, 7, 21)
SHARED = "ownership_shared_predictions"
# small windows: the two use cases need champions of their own, not good ones
WINDOWS = {
    "train_from": "2013-05-01",
    "train_to": "2013-05-12",
    "holdout_from": "2013-05-13",
    "holdout_to": "2013-05-19",
}


def write_usecase(folder, name, predictions_table, shadow_table):
    """flight_cancellation as use case ``name`` in ``folder`` (outside usecases/), SQL files by absolute path."""
    text = (project_root() / "usecases" / "flight_cancellation.toml").read_text()
    text = text.replace('name = "flight_cancellation"', f'name = "{name}"', 1)
    text = re.sub(r'"(usecases/flight_cancellation/[a-z_]+\.sql)"', lambda m: json.dumps(str(sql_dir() / m[1])), text)
    output = f'[output]\npredictions_table = "{predictions_table}"\nshadow_table = "{shadow_table}"\n'
    text = re.sub(r"\[output\]\n(?:[^\n]+\n)*", output + f'views_prefix = "v_{name}_"\n', text)
    for key, value in WINDOWS.items():
        text = re.sub(rf"^{key} = .*$", f'{key} = "{value}"', text, flags=re.M)
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def owners(source, tmp_path_factory):
    """Two use cases naming one predictions table, each with its own champion; the first has scored DAY."""
    folder = tmp_path_factory.mktemp("ownership")
    first = write_usecase(folder, "ownership_first", SHARED, "ownership_first_shadow")
    second = write_usecase(folder, "ownership_second", SHARED, "ownership_second_shadow")
    for path in (first, second):
        train_and_register(source, load_usecase(str(path)), created_by="tests")
    tasks.run_night(DAY.isoformat(), "ownership-first", str(first))
    return first, second


def test_the_first_use_case_to_create_a_predictions_table_is_recorded_as_its_owner(owners, source):
    first, _ = owners
    with source.connect() as conn:
        claim = owner_of(conn, SHARED)
        shadow = owner_of(conn, "ownership_first_shadow")
    assert (claim.use_case, claim.role, claim.declared_in) == ("ownership_first", "predictions", str(first))
    assert shadow is None  # no challenger in trial yet: the shadow table was neither made nor claimed


def test_a_second_use_case_naming_the_table_is_refused_before_its_run_and_the_owners_rows_are_intact(owners, source):
    _, second = owners
    before = predictions_fingerprint(source, DAY, f"batchscore.{SHARED}")
    assert before[0] > 500 and before[2] == "ownership-first"
    with pytest.raises(tasks.DeclarationError) as refused:  # the run's first task checks the declaration
        tasks.run_night(DAY.isoformat(), "ownership-second", str(second))
    line = str(refused.value)
    assert "\n" not in line
    assert line.startswith(f"batchscore.{SHARED} belongs to use case 'ownership_first' (its predictions table, ")
    assert line.endswith(
        f"use case 'ownership_second' cannot use it: change 'output.predictions_table' in {second} "
        "to a table of its own"
    )
    assert predictions_fingerprint(source, DAY, f"batchscore.{SHARED}") == before
    assert [r["status"] for r in ledger(source, "ownership-second")] == ["failed"]
    assert not refused.value.retryable  # a name stays taken however often the task is retried


def test_a_second_use_case_is_refused_at_score_even_past_the_check(owners, source):
    _, second = owners
    refused = pytest.raises(TableOwnershipError, match=f"change 'output.predictions_table' in {second}")
    with refused, source.begin() as conn:  # what each score task does first
        create_staged_predictions(
            conn,
            load_usecase(str(second)),
            staging("ownership_second_scores"),
            DAY,
            run_id="ownership-second-score",
            model_version="v1",
            threshold=0.1,
        )
    assert predictions_fingerprint(source, DAY, f"batchscore.{SHARED}")[2] == "ownership-first"
    assert not refused.excinfo.value.retryable


def test_a_second_use_case_is_refused_at_publish_and_nothing_it_did_there_is_kept(owners, source):
    first, second = owners
    intruder = load_usecase(str(second))
    refused = pytest.raises(TableOwnershipError, match=f"change 'output.predictions_table' in {second}")
    with refused, source.begin() as conn:
        ensure_predictions_table(conn, intruder)  # what publish calls first, in its own transaction
    # a shadow table is claimed like a predictions table: the owner's name is refused to anyone else
    thief = intruder.model_copy(update={"output": intruder.output.model_copy(update={"shadow_table": SHARED})})
    thief = thief.with_queries(second, {})
    refused = pytest.raises(TableOwnershipError, match=r"\(its predictions table, .*change 'output.shadow_table'")
    with refused, source.begin() as conn:
        ensure_shadow_table(conn, thief)
    with source.connect() as conn:
        assert owner_of(conn, SHARED).use_case == "ownership_first"
        assert owner_of(conn, "ownership_second_shadow") is None


def test_a_table_made_before_the_registry_is_claimed_by_the_first_use_case_that_touches_it(owners, source):
    first, second = owners
    with source.begin() as conn:
        conn.execute(sa.text("delete from batchscore.output_tables where table_name = :t"), {"t": SHARED})
    with source.begin() as conn:
        ensure_predictions_table(conn, load_usecase(str(first)))
    with source.connect() as conn:
        assert owner_of(conn, SHARED).use_case == "ownership_first"
    with pytest.raises(TableOwnershipError), source.begin() as conn:
        ensure_predictions_table(conn, load_usecase(str(second)))
