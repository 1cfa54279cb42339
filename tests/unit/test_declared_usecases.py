"""What the DAG files read from the use-case files at parse time: the DAG keys alone, one line naming file and key
for a file they cannot use, and the full check listing every problem of every refused file (no database)."""

import pytest

from pipeline.config.loading import UseCaseError
from pipeline.config.paths import project_root
from pipeline.tasks.declared import (
    DeclarationsRefused,
    check_declarations,
    declared_usecases,
    read_declaration,
    usecase_file_problems,
)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """An empty folder of use-case files, the deployment's (BATCHSCORE_USECASES_DIR)."""
    monkeypatch.setenv("BATCHSCORE_USECASES_DIR", str(tmp_path))
    return tmp_path


def _copy(folder, base, name, extra=""):
    text = (project_root() / "usecases" / f"{base}.toml").read_text(encoding="utf-8")
    text = text.replace(f'name = "{base}"', f'name = "{name}"')
    text = text.replace(f'"{base}_predictions"', f'"{name}_predictions"').replace(
        f'"{base}_shadow"', f'"{name}_shadow"'
    )
    path = folder / f"{name}.toml"
    path.write_text(text + extra, encoding="utf-8")
    return path


def test_the_shipped_use_cases_all_declare_their_dags_and_pass_the_full_check(monkeypatch):
    monkeypatch.delenv("BATCHSCORE_USECASES_DIR", raising=False)
    names = [d.name for d in declared_usecases()]
    assert {"flight_cancellation", "departure_disruption"} <= set(names)
    check_declarations()


def test_a_bad_cron_is_named_with_its_file_and_key_and_leaves_the_file_out(folder):
    path = _copy(folder, "departure_disruption", "nightly", '\n[schedule]\nscore = "22:00"\n')
    with pytest.raises(UseCaseError, match=r"nightly\.toml: 'schedule\.score' must be a cron expression"):
        read_declaration(path)
    assert declared_usecases() == []


def test_a_name_other_than_the_files_is_refused_because_the_dag_ids_carry_it(folder):
    path = _copy(folder, "departure_disruption", "other")
    renamed = path.rename(folder / "elsewhere.toml")
    with pytest.raises(UseCaseError, match=r"elsewhere\.toml: 'name' must be the file's name 'elsewhere'"):
        read_declaration(renamed)


def test_the_dag_keys_read_the_schedule_and_ignore_the_rest(folder):
    path = _copy(
        folder, "departure_disruption", "at_night", '\n[schedule]\nscore = "none"\ntimezone = "Europe/Paris"\n'
    )
    [declared] = declared_usecases()
    assert (declared.name, declared.path, declared.schedule.timezone) == ("at_night", path, "Europe/Paris")
    assert declared.cron("score") == "none" and declared.cron("retrain") == "0 3 * * 0"
    assert declared.cron("rollback") == "none"
    assert declared.schedule_text("score").startswith("manual only")
    assert declared.schedule_text("retrain") == "cron `0 3 * * 0` (Europe/Paris)"
    assert declared.dag_id("score") == "at_night__score"
    assert declared.champion_asset == ("at_night__champion", "model://at_night/champion")


def test_the_full_check_lists_every_refused_file_one_line_each(folder):
    _copy(folder, "departure_disruption", "fine")
    bad_cron = _copy(folder, "departure_disruption", "bad_cron", '\n[schedule]\nscore = "every night"\n')
    bad_key = _copy(folder, "departure_disruption", "bad_key")
    bad_key.write_text(bad_key.read_text().replace("[scoring]\n", "[scoring]\nshard = 2\n"))
    broken = folder / "broken.toml"
    broken.write_text('name = "broken"\n[schedule\n')
    problems = usecase_file_problems()
    assert len(problems) == 3
    assert problems[0].startswith(f"{bad_cron}: 'schedule.score' must be a cron expression")
    assert problems[1] == f"{bad_key}: 'scoring.shard': unknown key (did you mean 'shards'?)"
    assert problems[2].startswith(f"{broken}: not valid TOML")
    with pytest.raises(DeclarationsRefused, match=r"^3 use-case files refused \(the other use cases' DAGs are live"):
        check_declarations()
    assert [d.name for d in declared_usecases()] == ["bad_key", "fine"]  # bad_key's DAGs exist, and fail at run
