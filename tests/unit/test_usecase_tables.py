"""A predictions or shadow table belongs to one use case: the loader refuses a second TOML naming it."""

import json
import re

import pytest

from pipeline.config import loading
from pipeline.config.loading import UseCaseError, load_usecase
from pipeline.config.paths import project_root, sql_dir


def _copy(tmp_path, name, *, output=None, filename=None, drop_output=False):
    """flight_cancellation under another name, its SQL files by absolute path, written to ``tmp_path``."""
    text = (project_root() / "usecases" / "flight_cancellation.toml").read_text()
    text = text.replace('name = "flight_cancellation"', f"name = {json.dumps(name)}", 1)
    text = re.sub(r'"(usecases/flight_cancellation/[a-z_]+\.sql)"', lambda m: json.dumps(str(sql_dir() / m[1])), text)
    block = (
        ""
        if drop_output
        else "[output]\n"
        + "".join(
            f"{key} = {json.dumps(value)}\n" for key, value in {"views_prefix": f"v_{name}_", **(output or {})}.items()
        )
    )
    text = re.sub(r"\[output\]\n(?:[^\n]+\n)*", block, text)
    path = tmp_path / (filename or f"{name}.toml")
    path.write_text(text)
    return path


def test_a_use_case_naming_the_predictions_table_of_a_shipped_one_is_refused_naming_both_files_and_the_key(
    tmp_path,
):
    path = _copy(tmp_path, "rival", output={"predictions_table": "predictions", "shadow_table": "rival_shadow"})
    with pytest.raises(UseCaseError) as refused:
        load_usecase(str(path))
    line = str(refused.value)
    assert "\n" not in line
    assert line.startswith(f"{path}: 'output.predictions_table' names batchscore.predictions, which ")
    assert "usecases/flight_cancellation.toml (use case 'flight_cancellation') also names as " in line
    assert "'output.predictions_table'" in line.split("which", 1)[1]


def test_the_default_table_names_count_as_naming(tmp_path):
    path = _copy(tmp_path, "rival", drop_output=True)  # predictions and shadow_predictions by default
    with pytest.raises(UseCaseError, match=r"'output.predictions_table' names batchscore.predictions"):
        load_usecase(str(path))


def test_the_shadow_table_of_one_use_case_may_not_be_the_predictions_table_of_another(tmp_path):
    path = _copy(tmp_path, "rival", output={"predictions_table": "rival_predictions", "shadow_table": "predictions"})
    with pytest.raises(
        UseCaseError,
        match=r"'output.shadow_table' names batchscore.predictions, .* as "
        r"'output.predictions_table'",
    ):
        load_usecase(str(path))


def test_a_use_case_with_tables_of_its_own_loads_from_outside_usecases(tmp_path):
    path = _copy(tmp_path, "rival", output={"predictions_table": "rival_predictions", "shadow_table": "rival_shadow"})
    uc = load_usecase(str(path))
    assert (uc.output.predictions_table, uc.path) == ("rival_predictions", path)


def test_a_copy_of_a_use_case_under_its_own_name_is_the_same_owner_not_a_rival(tmp_path):
    path = _copy(tmp_path, "flight_cancellation", output={"views_prefix": "v_"}, filename="copy.toml")
    assert load_usecase(str(path)).output.predictions_table == "predictions"


def test_one_use_case_may_not_put_its_shadow_scores_in_its_predictions_table(tmp_path):
    path = _copy(tmp_path, "rival", output={"predictions_table": "rival_p", "shadow_table": "rival_p"})
    with pytest.raises(UseCaseError, match=r"'output.shadow_table' names the predictions table 'rival_p'"):
        load_usecase(str(path))


def test_two_files_in_usecases_naming_one_table_refuse_each_other_and_a_broken_file_refuses_none(tmp_path, monkeypatch):
    folder = tmp_path / "usecases"
    folder.mkdir()
    monkeypatch.setattr(loading, "usecases_dir", lambda: folder)
    first = _copy(folder, "first", output={"predictions_table": "shared", "shadow_table": "first_shadow"})
    second = _copy(folder, "second", output={"predictions_table": "shared", "shadow_table": "second_shadow"})
    (folder / "broken.toml").write_text("name = [unclosed\n")
    with pytest.raises(
        UseCaseError,
        match=rf"^{first}: 'output.predictions_table' names batchscore.shared, which "
        rf"{second} \(use case 'second'\)",
    ):
        load_usecase("first")
    second.write_text(second.read_text().replace('"shared"', '"second_predictions"'))
    assert load_usecase("first").output.predictions_table == "shared"  # the edited file is read again


def test_a_use_case_whose_views_prefix_is_another_ones_is_refused_before_its_views_replace_theirs(tmp_path):
    own = {"predictions_table": "rival_predictions", "shadow_table": "rival_shadow"}
    path = _copy(tmp_path, "rival", output={**own, "views_prefix": "v_"})  # flight_cancellation's views are v_*
    with pytest.raises(UseCaseError) as refused:
        load_usecase(str(path))
    assert str(refused.value) == (
        f"{path}: its BI views v_latest_predictions and v_daily_summary would replace those of "
        f"{project_root() / 'usecases' / 'flight_cancellation.toml'} (use case 'flight_cancellation'), which has the "
        "same views prefix: set 'output.views_prefix' to a prefix of its own"
    )
    assert load_usecase(str(_copy(tmp_path, "rival", output={**own, "views_prefix": "v_rival_"}))).name == "rival"
