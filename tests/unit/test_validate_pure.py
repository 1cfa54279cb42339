import datetime as dt
import json

import pytest

from pipeline.config.loading import load_usecase
from pipeline.validation.checks import (
    CheckResult,
    GateContext,
    builtin_expectations,
    describe,
    failure_line,
    row_count_band,
)
from pipeline.validation.gx_runner import build_suite
from pipeline.validation.suites import SuiteError, read_suite_file, suite_definition

DAY = dt.date(2013, 7, 14)
CTX = GateContext(DAY)


@pytest.fixture(scope="module")
def uc():
    return load_usecase("flight_cancellation")


def kinds_of(checks):
    return [(c["meta"]["kind"], c["type"], c["kwargs"].get("column")) for c in checks]


def check(expectation, column=None, success=False, severity="critical", **kw):
    return CheckResult(expectation=expectation, column=column, severity=severity, success=success, **kw)


def test_failure_line_names_each_failed_check_with_its_count():
    checks = [
        check("expect_column_values_to_be_unique", "entity_id", unexpected_count=12),
        check("expect_column_values_to_be_between", "distance", unexpected_count=3),
        check("expect_column_values_to_not_be_null", "carrier", success=True),
        check("expect_column_values_to_not_be_null", "temp", severity="warning", unexpected_count=5),
    ]
    assert failure_line(DAY, checks) == (
        "validation failed for 2013-07-14: entity_id not unique (12 rows share a value); distance out of range (3 rows)"
    )
    assert failure_line(DAY, checks, "warning") == "validation failed for 2013-07-14: temp has nulls (5 rows)"


def test_all_passing_checks_give_no_failure_line():
    assert failure_line(DAY, [check("expect_column_to_exist", "x", success=True)]) is None


def test_empty_batch_and_missing_column_are_described_plainly():
    assert describe(check("expect_table_row_count_to_be_between", observed_value=0)) == "batch is empty (0 rows)"
    missing = check(
        "expect_column_values_to_not_be_null", "visib", error='Error: The column "visib" in BatchData does not exist.'
    )
    assert describe(missing) == "column visib missing"


def test_builtin_checks_cover_row_count_entity_id_and_every_declared_column(uc):
    kinds = [(t, c) for _, t, c in kinds_of(builtin_expectations(uc, CTX))]
    assert ("expect_table_row_count_to_be_between", None) in kinds
    assert ("expect_column_values_to_be_unique", "entity_id") in kinds
    assert ("expect_column_values_to_not_be_null", "entity_id") in kinds
    assert {c for k, c in kinds if k == "expect_column_to_exist"} == set(uc.batch.columns)
    assert {c for k, c in kinds if k == "expect_column_values_to_be_in_type_list"} == set(uc.batch.columns)


def test_declared_types_map_to_what_gx_reflects(uc):
    types = {
        c["kwargs"]["column"]: c["kwargs"]["type_list"]
        for c in builtin_expectations(uc, CTX)
        if c["meta"]["kind"] == "column_type"
    }
    assert types["distance"] == ["DOUBLE PRECISION"]
    assert types["sched_dep_utc"] == ["TIMESTAMP WITH TIME ZONE"]
    assert "TEXT" in types["carrier"]


def test_severities_follow_the_config_defaults_and_overrides(uc):
    severities = {kind: c["severity"] for kind, c in ((c["meta"]["kind"], c) for c in builtin_expectations(uc, CTX))}
    assert severities["null_rate"] == "warning"  # overridden in the TOML
    assert severities["all_null"] == severities["range"] == severities["event_time"] == "critical"


def test_null_rate_ceilings_come_from_config_and_unbounded_columns_skip_all_null(uc):
    checks = builtin_expectations(uc, CTX)
    ceilings = {c["kwargs"]["column"]: 1 - c["kwargs"]["min_value"] for c in checks if c["meta"]["kind"] == "null_rate"}
    assert ceilings["plane_year"] == pytest.approx(0.5)
    assert ceilings["temp"] == pytest.approx(0.05)  # the default
    assert "wind_gust" not in ceilings  # ceiling 1.0: may be entirely null
    assert not [c for c in kinds_of(checks) if c[0] == "all_null" and c[2] == "wind_gust"]


def test_row_count_band_needs_history_and_follows_the_trailing_mean(uc):
    assert row_count_band(uc, (900, 950)) is None  # fewer than row_count_min_history dates
    low, high, mean = row_count_band(uc, (900, 1000, 950))
    assert mean == 950 and low == 475 and high == 1520
    band = [
        c for c in builtin_expectations(uc, GateContext(DAY, (900, 1000, 950))) if c["meta"]["kind"] == "row_count_band"
    ]
    assert band[0]["kwargs"] == {"min_value": 475, "max_value": 1520}


def test_category_checks_use_the_champions_categories_with_the_unseen_ceiling(uc):
    ctx = GateContext(DAY, known_categories={"carrier": ("AA", "UA"), "not_a_batch_column": ("x",)})
    [check] = [c for c in builtin_expectations(uc, ctx) if c["meta"]["kind"] == "categories"]
    assert check["kwargs"] == {"column": "carrier", "value_set": ["AA", "UA"], "mostly": 0.98}


def test_event_time_window_is_anchored_on_the_score_date(uc):
    [check] = [c for c in builtin_expectations(uc, CTX) if c["meta"]["kind"] == "event_time"]
    assert check["kwargs"] == {
        "column": "sched_dep_utc",
        "min_value": "2013-07-14T00:00:00+00:00",
        "max_value": "2013-07-15T12:00:00+00:00",
    }


def test_suite_file_with_bad_severity_is_refused(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps(
            {
                "name": "s",
                "expectations": [{"type": "expect_column_to_exist", "kwargs": {"column": "a"}, "severity": "fatal"}],
            }
        )
    )
    with pytest.raises(SuiteError, match="severity 'fatal'"):
        read_suite_file(path)


def test_suite_that_gx_would_silently_shrink_is_refused():
    definition = suite_definition(load_usecase("flight_cancellation"), CTX)
    definition["expectations"].append(
        {
            "type": "expect_column_values_to_be_purple",
            "kwargs": {"column": "carrier"},
            "severity": "critical",
            "meta": {"position": len(definition["expectations"])},
        }
    )
    with pytest.raises(SuiteError, match="did not accept 1 expectation.*expect_column_values_to_be_purple"):
        build_suite(definition)


def test_shipped_suites_load_completely():
    for name in ("flight_cancellation", "departure_disruption"):
        definition = suite_definition(load_usecase(name), CTX)
        suite = build_suite(definition)
        assert len(suite.expectations) == len(definition["expectations"])


def test_each_failure_kind_reads_as_one_plain_phrase():
    assert describe(
        check(
            "expect_column_values_to_be_in_type_list",
            "distance",
            kind="column_type",
            observed_value="TEXT",
            kwargs={"type_list": ["DOUBLE PRECISION"]},
        )
    ) == ("distance has type TEXT (declared DOUBLE PRECISION)")
    assert describe(check("expect_column_values_to_not_be_null", "temp", kind="all_null")) == "temp is entirely null"
    assert (
        describe(
            check(
                "expect_column_proportion_of_non_null_values_to_be_between",
                "temp",
                kind="null_rate",
                observed_value=0.6,
                kwargs={"min_value": 0.95},
            )
        )
        == "temp null rate 40% above its ceiling 5%"
    )
    unseen = check(
        "expect_column_values_to_be_in_set",
        "carrier",
        kind="categories",
        unexpected_count=90,
        partial_unexpected=["ZZ"],
    )
    assert describe(unseen) == "carrier has categories the model never saw (90 rows, e.g. 'ZZ')"
    assert describe(
        check(
            "expect_table_row_count_to_be_between",
            kind="row_count_band",
            observed_value=92,
            kwargs={"min_value": 462, "max_value": 1478},
        )
    ).startswith("row count 92 outside 462..1478")
    assert describe(check("expect_column_max_to_be_between", "days_behind", kind="freshness", observed_value=2)) == (
        "source data ends 2 day(s) before the score date"
    )


def test_the_data_docs_store_keeps_only_the_newest_results(tmp_path, monkeypatch):
    import os

    from pipeline.validation.gx_runner import prune_docs_store

    monkeypatch.setenv("BATCHSCORE_HOME", str(tmp_path))
    store = tmp_path / "gx" / "uncommitted" / "validations" / "suite"
    files = []
    for i in range(5):
        path = store / f"run{i}" / "t" / "batch.json"
        path.parent.mkdir(parents=True)
        path.write_text("{}")
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
        files.append(path)
    assert prune_docs_store(keep=2) == 3
    assert [p.exists() for p in files] == [False, False, False, True, True]
    assert sorted(p.name for p in store.iterdir()) == ["run3", "run4"]  # emptied folders are gone too
    assert prune_docs_store(keep=2) == 0
