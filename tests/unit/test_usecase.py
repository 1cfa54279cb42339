import datetime as dt
import tomllib

import pytest

from pipeline.config.loading import UseCaseError, load_usecase, parse_usecase
from pipeline.config.paths import project_root

FORBIDDEN = {"dep_time", "dep_delay", "arr_time", "arr_delay", "air_time"}


def _raw(name="flight_cancellation"):
    path = project_root() / "usecases" / f"{name}.toml"
    return tomllib.loads(path.read_text()), path


@pytest.mark.parametrize("name", ["flight_cancellation", "departure_disruption"])
def test_shipped_use_cases_load_with_the_features_in_the_order_the_model_sees_them(name):
    uc = load_usecase(name)
    raw, _ = _raw(name)
    assert uc.name == name
    assert uc.feature_columns == (*raw["features"]["categorical"], *raw["features"]["numeric"])
    assert uc.target.threshold == raw["target"]["threshold"]


@pytest.mark.parametrize("name", ["flight_cancellation", "departure_disruption"])
def test_no_same_day_observation_is_a_declared_column_or_feature(name):
    uc = load_usecase(name)
    assert not FORBIDDEN & set(uc.batch.columns)
    assert not FORBIDDEN & set(uc.feature_columns)


def test_unknown_use_case_lists_the_available_ones():
    with pytest.raises(UseCaseError, match="available: .*flight_cancellation"):
        load_usecase("no_such_case")


def test_missing_key_names_file_and_key():
    raw, path = _raw()
    del raw["target"]["name"]
    with pytest.raises(UseCaseError, match=r"flight_cancellation.toml: missing key 'target.name'"):
        parse_usecase(raw, path)


def test_a_binary_use_case_without_a_threshold_is_refused_naming_the_key():
    raw, path = _raw()
    del raw["target"]["threshold"]
    with pytest.raises(UseCaseError, match=r"flight_cancellation.toml: 'target.threshold' is required for a binary"):
        parse_usecase(raw, path)


@pytest.mark.parametrize("threshold", [0, 1, 1.5, -0.1])
def test_threshold_must_be_a_probability_strictly_inside_0_1(threshold):
    raw, path = _raw()
    raw["target"]["threshold"] = threshold
    with pytest.raises(UseCaseError, match="target.threshold"):
        parse_usecase(raw, path)


def test_holdout_must_follow_training_window():
    raw, path = _raw()
    raw["training"]["holdout_from"] = "2013-05-01"
    with pytest.raises(UseCaseError, match="holdout must come after"):
        parse_usecase(raw, path)


def test_unknown_column_type_is_rejected_with_the_allowed_list():
    raw, path = _raw()
    raw["batch"]["columns"]["distance"] = "float"
    with pytest.raises(UseCaseError, match=r"batch.columns.distance.*allowed: .*double precision"):
        parse_usecase(raw, path)


def test_predictions_table_name_is_validated_as_an_identifier():
    raw, path = _raw()
    raw["output"]["predictions_table"] = 'p"; drop table x; --'
    with pytest.raises(UseCaseError, match="output.predictions_table"):
        parse_usecase(raw, path)


def test_missing_sql_file_is_named():
    raw, path = _raw()
    raw["sql"]["labels"] = "usecases/nowhere/labels.sql"
    with pytest.raises(UseCaseError, match="sql/usecases/nowhere/labels.sql"):
        parse_usecase(raw, path)


def test_dates_are_parsed_and_bad_dates_reported():
    raw, path = _raw()
    assert parse_usecase(raw, path).training.holdout_to == dt.date(2013, 6, 30)
    raw["training"]["train_from"] = "2013-02-30"
    with pytest.raises(UseCaseError, match="training.train_from"):
        parse_usecase(raw, path)


def test_a_feature_may_not_be_listed_twice():
    raw, path = _raw()
    raw["features"]["numeric"].append("carrier")
    with pytest.raises(UseCaseError, match="listed twice: carrier"):
        parse_usecase(raw, path)


def test_validation_config_is_parsed_with_defaults():
    uc = load_usecase("flight_cancellation")
    v = uc.validation
    assert v.row_count_band == (0.5, 1.6) and v.event_time_column == "sched_dep_utc"
    assert v.ranges["distance"] == (10, 6000) and v.null_rate_max["wind_gust"] == 1.0
    assert v.freshness and "fresh_through" in uc.query("freshness")
    d = load_usecase("departure_disruption").validation
    assert d.event_time_column is None and d.row_count_band == (0.5, 1.5)


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("ranges", "not_a_column", [0, 1], "not a declared batch column"),
        ("ranges", "carrier", [0, 1], "a range needs a numeric column"),
        ("ranges", "distance", [10, 5], "minimum 10 is above the maximum 5"),
        ("null_rate_max", "temp", 1.5, "share between 0 and 1"),
        ("severity", "null_rate", "fatal", "must be one of"),
        ("severity", "vibes", "warning", "is not a check kind"),
    ],
)
def test_bad_validation_settings_are_named(section, key, value, message):
    raw, path = _raw()
    raw["validation"].setdefault(section, {})[key] = value
    with pytest.raises(UseCaseError, match=message):
        parse_usecase(raw, path)


def test_row_count_band_must_straddle_one():
    raw, path = _raw()
    raw["validation"]["row_count_band"] = [1.2, 1.5]
    with pytest.raises(UseCaseError, match="row_count_band"):
        parse_usecase(raw, path)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("psi_threshold", 0, r"'monitoring.psi_threshold' must lie in \(0, 10\]"),
        ("min_rows", 0, r"'monitoring.min_rows' must be an integer of at least 1"),
        ("bins", 80, r"'monitoring.bins' must be at most 50"),
        (
            "ignore_features",
            ["day_of_week", "no_such_column"],
            r"'monitoring.ignore_features' names columns that are "
            r"not features: no_such_column",
        ),
        ("min_roc_auc", "high", r"'monitoring.min_roc_auc' must be int or float"),
    ],
)
def test_a_bad_monitoring_setting_names_its_key(key, value, message):
    raw, path = _raw()
    raw["monitoring"][key] = value
    with pytest.raises(UseCaseError, match=message):
        parse_usecase(raw, path)


def test_views_prefix_must_make_valid_view_names():
    raw, path = _raw()
    raw["output"]["views_prefix"] = "BI views "
    with pytest.raises(UseCaseError, match="output.views_prefix"):
        parse_usecase(raw, path)
    del raw["output"]["views_prefix"]
    assert parse_usecase(raw, path).views_prefix == "v_flight_cancellation_"
