import datetime as dt
import json

import pytest

from pipeline.usecase import load_usecase
from pipeline.validate import (
    CheckResult,
    SuiteError,
    build_suite,
    builtin_expectations,
    describe,
    failure_line,
    read_suite_file,
    suite_definition,
)

DAY = dt.date(2013, 7, 14)


def check(kind, column=None, success=False, severity="critical", **kw):
    return CheckResult(expectation=kind, column=column, severity=severity, success=success, **kw)


def test_failure_line_names_each_failed_check_with_its_count():
    checks = [
        check("expect_column_values_to_be_unique", "entity_id", unexpected_count=12),
        check("expect_column_values_to_be_between", "distance", unexpected_count=3),
        check("expect_column_values_to_not_be_null", "carrier", success=True),
        check("expect_column_values_to_not_be_null", "temp", severity="warning", unexpected_count=5),
    ]
    assert failure_line(DAY, checks) == (
        "validation failed for 2013-07-14: entity_id not unique (12 rows share a value); "
        "distance out of range (3 rows)"
    )
    assert failure_line(DAY, checks, "warning") == "validation failed for 2013-07-14: temp has nulls (5 rows)"


def test_all_passing_checks_give_no_failure_line():
    assert failure_line(DAY, [check("expect_column_to_exist", "x", success=True)]) is None


def test_empty_batch_and_missing_column_are_described_plainly():
    assert describe(check("expect_table_row_count_to_be_between", observed_value=0)) == "batch is empty (0 rows)"
    missing = check("expect_column_values_to_not_be_null", "visib",
                    error='Error: The column "visib" in BatchData does not exist.')
    assert describe(missing) == "column visib missing"


def test_builtin_checks_cover_row_count_entity_id_and_every_declared_column():
    uc = load_usecase("flight_cancellation")
    kinds = [(e["type"], e["kwargs"].get("column")) for e in builtin_expectations(uc)]
    assert ("expect_table_row_count_to_be_between", None) in kinds
    assert ("expect_column_values_to_be_unique", "entity_id") in kinds
    assert ("expect_column_values_to_not_be_null", "entity_id") in kinds
    assert {c for k, c in kinds if k == "expect_column_to_exist"} == set(uc.batch_columns)
    assert all(e["severity"] == "critical" for e in builtin_expectations(uc))


def test_suite_file_with_bad_severity_is_refused(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"name": "s", "expectations": [
        {"type": "expect_column_to_exist", "kwargs": {"column": "a"}, "severity": "fatal"}]}))
    with pytest.raises(SuiteError, match="severity 'fatal'"):
        read_suite_file(path)


def test_suite_that_gx_would_silently_shrink_is_refused():
    definition = suite_definition(load_usecase("flight_cancellation"))
    definition["expectations"].append(
        {"type": "expect_column_values_to_be_purple", "kwargs": {"column": "carrier"},
         "severity": "critical", "meta": {"position": len(definition["expectations"])}}
    )
    with pytest.raises(SuiteError, match="did not accept 1 expectation.*expect_column_values_to_be_purple"):
        build_suite(definition)


def test_shipped_suites_load_completely():
    for name in ("flight_cancellation", "departure_disruption"):
        definition = suite_definition(load_usecase(name))
        suite = build_suite(definition)
        assert len(suite.expectations) == len(definition["expectations"])
