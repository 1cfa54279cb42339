"""``batchscore check``: each class of declaration error, from a copy of a shipped use case with one deliberate
mistake (a TOML outside usecases/ whose SQL and suite files are given by absolute path), is reported on one line
naming the file and the key; several mistakes are all reported; every shipped use case passes."""

import json
import re
import time

import pytest
import sqlalchemy as sa

from pipeline import tasks
from pipeline.cli import main
from pipeline.config.loading import available_usecases, load_usecase
from pipeline.config.paths import expectations_dir, project_root, sql_dir
from pipeline.db.engine import run_script
from pipeline.db.ownership import claim_output_table
from pipeline.db.sql import read_sql

BASE = "flight_cancellation"
BATCH_SQL = sql_dir() / "usecases" / BASE / "batch.sql"  # the copies name it by absolute path


def declared(tmp_path, *edits, sql=None, suite=None, base=BASE):
    """A copy of use case ``base`` in ``tmp_path``: the TOML text with each (old, new) edit made, its SQL files by
    absolute path, a file of ``sql`` (kind -> text) or a batch ``suite`` (JSON) replaced by a tmp copy."""
    text = (project_root() / "usecases" / f"{base}.toml").read_text()
    for kind, body in (sql or {}).items():
        file = tmp_path / f"{kind}.sql"
        file.write_text(body)
        text = text.replace(f'"usecases/{base}/{kind}.sql"', json.dumps(str(file)))
    text = re.sub(rf'"(usecases/{base}/[a-z_]+\.sql)"', lambda m: json.dumps(str(sql_dir() / m[1])), text)
    if suite is not None:
        (tmp_path / "suite.json").write_text(json.dumps(suite))
        text = text.replace(f'"{base}_batch.json"', json.dumps(str(tmp_path / "suite.json")))
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / f"{base}_copy.toml"
    path.write_text(text)
    return path


def shipped_sql(kind, base=BASE):
    return (sql_dir() / "usecases" / base / f"{kind}.sql").read_text()


def problems(path):
    return tasks.check_usecase(str(path), refuse=False)["problems"]


def test_a_copy_without_mistakes_passes_with_an_ok_line(source, tmp_path, capsys):
    path = declared(tmp_path)
    assert main(["check", "--usecase", str(path)]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"{path}: ok: flight_cancellation (binary): 25 batch columns and 19 features as declared")
    assert "13 expectations known to GX" in out and "queries probed for 2013-07-01" in out


@pytest.mark.parametrize("name", available_usecases())
def test_every_shipped_use_case_passes(source, name):
    if name == "bench_w1":  # the benchmark's source: its empty tables are enough to read the queries' shapes
        with source.begin() as conn:
            run_script(conn, read_sql("benchmarks/w1_generate.sql"))
    result = tasks.check_usecase(name, refuse=False)
    assert result["problems"] == [] and ": ok: " in result["summary"]


def test_unknown_keys_and_bad_types_are_the_loaders_lines_all_of_them(source, tmp_path):
    path = declared(
        tmp_path,
        ("[validation.ranges]", "[validation.range]"),
        ("threshold = 0.10", 'threshold = "high"'),
    )
    found = problems(path)
    assert f"{path}: 'validation.range': unknown key (did you mean 'ranges'?)" in found
    assert f"{path}: 'target.threshold' must be int or float, got 'high'" in found
    assert len(found) == 2


def test_a_hyperparameter_typo_is_caught_by_constructing_the_estimator(source, tmp_path):
    path = declared(tmp_path, ("max_iter = 100", "max_iters = 100"))
    assert problems(path) == [
        f"{path}: 'model.hyperparameters.max_iters' is not a hyper-parameter of HistGradientBoostingClassifier "
        "(did you mean 'max_iter'?)"
    ]


def test_a_schedule_that_is_not_a_cron_is_refused(source, tmp_path):
    path = declared(tmp_path, ("[scoring]", '[schedule]\nscore = "0 25 * * *"\n\n[scoring]'))
    [line] = problems(path)
    assert line.startswith(f"{path}: 'schedule.score' must be a cron expression of 5 fields")


def test_a_declared_column_the_batch_query_does_not_return_is_named(source, tmp_path):
    path = declared(tmp_path, ('flight = "integer"', 'flight = "integer"\nflight_number = "integer"'))
    assert problems(path) == [
        f"{path}: 'batch.columns.flight_number' is declared, but the batch query ({BATCH_SQL}) does not return it"
    ]


def test_a_returned_column_that_is_not_declared_is_named_with_its_type(source, tmp_path):
    path = declared(tmp_path, ('flight = "integer"\n', ""))
    assert problems(path) == [
        f"{path}: the batch query ({BATCH_SQL}) returns flight (integer), which 'batch.columns' does not declare"
    ]


def test_a_column_of_another_type_is_named_with_both_types_and_integer_widths_count(source, tmp_path):
    path = declared(tmp_path, ('flight = "integer"', 'flight = "bigint"'), ('carrier = "text"', 'carrier = "varchar"'))
    assert problems(path) == [  # varchar and text are one family, integer and bigint are not
        f"{path}: 'batch.columns.flight' is declared bigint, the batch query ({BATCH_SQL}) "
        "returns integer (declare integer or cast it in the query, e.g. flight::bigint)"
    ]


def test_a_syntax_error_in_a_query_names_the_file_the_line_and_the_key(source, tmp_path):
    broken = shipped_sql("batch").replace("        carrier,\n", "        carrier carrier carrier,\n", 1)
    path = declared(tmp_path, sql={"batch": broken})
    line_no = broken.splitlines().index("        carrier carrier carrier,") + 1
    [line] = problems(path)
    assert line.startswith(
        f"{path}: the batch query ({tmp_path / 'batch.sql'} line {line_no}, key 'sql.batch') fails: "
    )


def test_a_feature_the_feature_query_does_not_produce_is_named_with_its_key(source, tmp_path):
    features = shipped_sql("features").replace("    wind_speed,\n", "    wind_speed as speed,\n")
    path = declared(tmp_path, sql={"features": features})
    assert problems(path) == [
        f"{path}: 'features.numeric' names wind_speed, which the feature query ({tmp_path / 'features.sql'}) "
        "does not return"
    ]


def test_a_labels_query_without_label_known_at_is_named(source, tmp_path):
    labels = shipped_sql("labels").replace(
        ",\n    (flight_date + 1)::timestamp at time zone 'UTC' + interval '6 hours'   as label_known_at", ""
    )
    path = declared(tmp_path, sql={"labels": labels})
    assert problems(path) == [
        f"{path}: the labels query ({tmp_path / 'labels.sql'}, key 'sql.labels') must return entity_id, "
        "score_date, label, label_known_at; missing: label_known_at"
    ]


def test_a_text_label_does_not_fit_a_binary_use_case(source, tmp_path):
    labels = shipped_sql("labels").replace(
        "dep_time is null                                                       as label",
        "case when dep_time is null then 'yes' else 'no' end as label",
    )
    path = declared(tmp_path, sql={"labels": labels})
    assert problems(path) == [
        f"{path}: 'target.kind' is binary, which needs a label of boolean (or integer 0/1); the labels query "
        f"({tmp_path / 'labels.sql'}, key 'sql.labels') returns text"
    ]


def test_an_integer_binary_label_passes_as_0_1_and_is_refused_with_other_values(source, tmp_path):
    zero_one = shipped_sql("labels").replace("dep_time is null  ", "(dep_time is null)::integer")
    assert problems(declared(tmp_path, sql={"labels": zero_one})) == []
    other = shipped_sql("labels").replace("dep_time is null  ", "(dep_time is null)::integer * 2")
    path = declared(tmp_path, sql={"labels": other})
    [line] = problems(path)
    assert line.endswith("returns 2 on 2013-07-01")  # the probed day: [demo] first_night
    assert line.startswith(f"{path}: 'target.kind' is binary, which needs a boolean or 0/1 label; the labels query")


def test_a_missing_suite_file_is_named_with_its_key(source, tmp_path):
    path = declared(tmp_path, ('"flight_cancellation_training.json"', '"flight_cancellation_train.json"'))
    assert problems(path) == [
        f"{path}: 'validation.training_suite' names a missing suite file: expectations/flight_cancellation_train.json"
    ]


def test_an_expectation_type_gx_does_not_know_and_a_column_the_batch_lacks_are_named(source, tmp_path):
    suite = json.loads((expectations_dir() / "flight_cancellation_batch.json").read_text())
    suite["expectations"] += [
        {"type": "expect_column_values_to_be_purple", "kwargs": {"column": "carrier"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "carrier_name"}},
    ]
    path = declared(tmp_path, suite=suite)
    n = len(suite["expectations"])
    assert problems(path) == [
        f"{tmp_path / 'suite.json'}: expectation #{n} (expect_column_values_to_not_be_null) names column "
        f"'carrier_name', which the batch does not have ('validation.suite' of {path})",
    ]  # the unknown type is looked for once the file is otherwise sound
    suite["expectations"].pop()
    path = declared(tmp_path, suite=suite)
    [line] = problems(path)
    assert line.startswith(
        f"{tmp_path / 'suite.json'}: expectation #{n - 1} (expect_column_values_to_be_purple) is not an expectation "
        "type GX knows (did you mean "
    )
    assert line.endswith(f"('validation.suite' of {path})")


def test_a_table_another_use_case_owns_in_the_database_is_named_with_its_owner_and_key(source, tmp_path):
    owner = declared(
        tmp_path,
        ('name = "flight_cancellation"', 'name = "check_owner"'),
        ('predictions_table = "predictions"', 'predictions_table = "check_claimed"'),
        ('shadow_table = "shadow_predictions"', 'shadow_table = "check_owner_shadow"'),
        ('views_prefix = "v_"', 'views_prefix = "v_check_owner_"'),
    )
    with source.begin() as conn:
        claim_output_table(conn, load_usecase(str(owner)), "predictions")
    rival_dir = tmp_path / "rival"
    rival_dir.mkdir()
    rival = declared(
        rival_dir,
        ('name = "flight_cancellation"', 'name = "check_rival"'),
        ('predictions_table = "predictions"', 'predictions_table = "check_claimed"'),
        ('shadow_table = "shadow_predictions"', 'shadow_table = "check_rival_shadow"'),
        ('views_prefix = "v_"', 'views_prefix = "v_check_rival_"'),
    )
    [line] = problems(rival)
    assert line.startswith("batchscore.check_claimed belongs to use case 'check_owner' (its predictions table, ")
    assert line.endswith(f"change 'output.predictions_table' in {rival} to a table of its own")


def test_several_mistakes_are_all_reported_and_the_command_exits_1(source, tmp_path, capsys):
    features = shipped_sql("features").replace("    wind_speed,\n", "")
    path = declared(tmp_path, ('flight = "integer"', 'flight = "bigint"'), sql={"features": features})
    assert main(["check", "--usecase", str(path)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 3 and out[-1].startswith(f"2 problem(s) in {path}")
    assert "'batch.columns.flight' is declared bigint" in out[0] and "'features.numeric' names wind_speed" in out[1]
    with pytest.raises(tasks.DeclarationError) as refused:  # what train and the runs' first tasks raise
        tasks.check_usecase(str(path))
    assert refused.value.problems == out[:2] and not refused.value.retryable


def test_at_a_run_the_source_is_left_to_the_stages_and_the_declaration_is_not(source, tmp_path):
    wrong_type = declared(tmp_path, ('flight = "integer"', 'flight = "bigint"'))
    assert tasks.check_usecase(str(wrong_type), at_run=True)["problems"] == []  # the gate's column_type rejects it
    features = shipped_sql("features").replace("    wind_speed,\n", "")
    missing_feature = declared(tmp_path, sql={"features": features})
    with pytest.raises(tasks.DeclarationError, match="'features.numeric' names wind_speed"):
        tasks.extract("2013-07-02", "check-at-run", str(missing_feature))
    with source.connect() as conn:  # refused before any work: nothing staged, nothing in the ledger
        staged = conn.execute(
            sa.text("select count(*) from batchscore.staging_runs where run_id = 'check-at-run'")
        ).scalar_one()
    assert staged == 0


def test_the_check_at_a_run_takes_a_fraction_of_a_second(source):
    tasks.check_usecase(BASE, at_run=True)  # the first opens the connection
    started = time.perf_counter()
    result = tasks.check_usecase(BASE, at_run=True)
    assert result["problems"] == [] and time.perf_counter() - started < 2.0


def test_train_and_a_retraining_check_the_declaration_before_any_work(source, tmp_path, capsys):
    from pipeline.model.registry import list_versions

    features = shipped_sql("features").replace("    wind_speed,\n", "")
    path = declared(
        tmp_path,
        ('name = "flight_cancellation"', 'name = "check_untrained"'),
        ('predictions_table = "predictions"', 'predictions_table = "check_untrained_predictions"'),
        ('shadow_table = "shadow_predictions"', 'shadow_table = "check_untrained_shadow"'),
        ('views_prefix = "v_"', 'views_prefix = "v_check_untrained_"'),
        sql={"features": features},
    )
    assert main(["train", "--usecase", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"batchscore train: {path}: 'features.numeric' names wind_speed, which the feature query " + (
        f"({tmp_path / 'features.sql'}) does not return"
    )
    with pytest.raises(tasks.DeclarationError, match="'features.numeric' names wind_speed"):
        tasks.build_training_set("2013-06-03", "check-retrain", str(path))
    assert list_versions(source, "check_untrained") == []
