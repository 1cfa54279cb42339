"""A misspelt key anywhere in a use-case file is refused at load, naming the file and the full key path."""

import re
import tomllib

import pytest
from pydantic import BaseModel

from pipeline.config.loading import UseCaseError, load_usecase, parse_usecase
from pipeline.config.paths import usecases_dir
from pipeline.config.usecase import UseCase

PATH = usecases_dir() / "flight_cancellation.toml"


def _tables(model: type[BaseModel], path: str = "") -> list[tuple[str, type[BaseModel]]]:
    found = [(path, model)]
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            found += _tables(field.annotation, f"{path}.{name}" if path else name)
    return found


TABLES = _tables(UseCase)


def test_the_walk_covers_every_table_of_the_file():
    assert {path for path, _ in TABLES} >= {
        "",
        "sql",
        "batch",
        "features",
        "target",
        "output",
        "model",
        "training",
        "retraining",
        "promotion",
        "shadow",
        "validation",
        "validation.severity",
        "monitoring",
        "scoring",
        "demo",
    }


@pytest.mark.parametrize(("table", "model"), TABLES, ids=[path or "top-level" for path, _ in TABLES])
def test_an_unknown_key_in_any_table_is_refused_with_its_key_path_and_the_closest_known_key(table, model):
    raw = tomllib.loads(PATH.read_text())
    node = raw
    for part in filter(None, table.split(".")):
        node = node.setdefault(part, {})
    known = next(iter(model.model_fields))
    misspelt = known + known[-1]
    node[misspelt] = node.get(known, 1)
    key = f"{table}.{misspelt}" if table else misspelt
    with pytest.raises(UseCaseError) as refused:
        parse_usecase(raw, PATH)
    message = str(refused.value)
    assert message.startswith(f"{PATH}: '{key}'")
    if table == "validation.severity":
        assert "is not a check kind" in message
    else:
        assert message.endswith(f": unknown key (did you mean '{known}'?)")


@pytest.mark.parametrize(
    ("table", "key", "value", "message"),
    [
        ("validation.ranges", "humidity", [0, 100], "not a declared batch column"),
        ("validation.null_rate_max", "temprature", 0.1, "not a declared batch column"),
        ("validation.categories", "carier", ["UA"], "not a declared batch column"),
        (
            "model.hyperparameters",
            "max_iters",
            10,
            "is not a hyper-parameter of HistGradientBoostingClassifier (did you mean 'max_iter'?)",
        ),
        ("model.hyperparameters", "categorical_features", [0], "is set by batchscore from [features]"),
    ],
)
def test_an_unknown_name_in_a_free_form_table_is_refused_too(table, key, value, message):
    raw = tomllib.loads(PATH.read_text())
    node = raw
    for part in table.split("."):
        node = node.setdefault(part, {})
    node[key] = value
    with pytest.raises(UseCaseError, match=re.escape(f"'{table}.{key}'") + ".*" + re.escape(message)):
        parse_usecase(raw, PATH)


def test_the_misspelt_ranges_table_that_once_disabled_every_range_check_is_refused_at_load(tmp_path):
    text = PATH.read_text().replace("[validation.ranges]", "[validation.range]")
    path = tmp_path / "misspelt.toml"
    path.write_text(text)
    with pytest.raises(UseCaseError) as refused:
        load_usecase(str(path))
    assert str(refused.value) == f"{path}: 'validation.range': unknown key (did you mean 'ranges'?)"


def test_every_default_is_declared_once_and_the_views_prefix_follows_the_name():
    raw = tomllib.loads(PATH.read_text())
    del raw["output"]["views_prefix"]
    raw["name"] = "another_case"
    assert parse_usecase(raw, PATH).views_prefix == "v_another_case_"
    assert UseCase.model_fields["output"].get_default(call_default_factory=True).views_prefix is None


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("output.predictions_table", "predictions\n", "must be a plain lowercase SQL name"),
        ("output.views_prefix", "v_" + "x" * 44, "does not make valid view names"),  # 64 with latest_predictions
    ],
)
def test_names_that_would_break_sql_later_are_refused_at_load(key, value, message):
    raw = tomllib.loads(PATH.read_text())
    section, name = key.split(".")
    raw[section][name] = value
    with pytest.raises(UseCaseError, match=re.escape(f"'{key}'") + ".*" + re.escape(message)):
        parse_usecase(raw, PATH)
