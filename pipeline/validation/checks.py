"""The built-in checks of the gate and how a failed check reads (pure: no database, no GX import).

Every use case gets checks generated from its declaration for one score date (row count and its band around
recent volumes, freshness, entity ids, declared columns and types, null rates, ranges, categories the champion
knows, event time); each is ``critical`` (the run stops before scoring, with one line naming what failed),
``warning`` (recorded and logged, the run goes on) or ``info``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from pipeline.config.usecase import UseCase
from pipeline.errors import DataRejected

#: GX's reflected type names accepted for each declared PostgreSQL type
GX_TYPES: dict[str, list[str]] = {
    "integer": ["INTEGER"],
    "bigint": ["BIGINT"],
    "smallint": ["SMALLINT"],
    "double precision": ["DOUBLE PRECISION"],
    "real": ["REAL"],
    "numeric": ["NUMERIC"],
    "text": ["TEXT", "VARCHAR"],
    "varchar": ["TEXT", "VARCHAR"],
    "character varying": ["TEXT", "VARCHAR"],
    "date": ["DATE"],
    "timestamp": ["TIMESTAMP WITHOUT TIME ZONE", "TIMESTAMP"],
    "timestamptz": ["TIMESTAMP WITH TIME ZONE"],
    "boolean": ["BOOLEAN"],
}

# "not null" with this `mostly` passes as soon as one value is present (and, unlike a proportion check, on an
# empty batch, which the row-count check reports on its own)
ALL_NULL_MOSTLY = 1e-9


class ValidationFailed(DataRejected):
    """A critical check failed: the data must not be scored or trained on. The message is one line."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one expectation, flattened from GX's result object."""

    expectation: str
    column: str | None
    severity: str
    success: bool | None  # None: the check could not run and was skipped (the reason in ``error``)
    kind: str | None = None
    observed_value: Any = None
    unexpected_count: int | None = None
    element_count: int | None = None
    partial_unexpected: list[Any] = field(default_factory=list)
    error: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    dataset: str = "batch"


@dataclass(frozen=True)
class GateContext:
    """What the built-in checks of one score date depend on besides the use case."""

    score_date: dt.date
    trailing_rows: tuple[int, ...] = ()  # published volumes of recent dates
    known_categories: dict[str, tuple[str, ...]] = field(default_factory=dict)


def builtin_check(kind: str, uc: UseCase, kind_type: str, **kwargs: Any) -> dict[str, Any]:
    """One built-in expectation of ``kind`` (a :class:`~pipeline.config.usecase.CheckSeverities` field)."""
    return {
        "type": kind_type,
        "kwargs": kwargs,
        "severity": uc.validation.severity.of(kind),
        "meta": {"source": "builtin", "kind": kind},
    }


def row_count_band(uc: UseCase, trailing_rows: tuple[int, ...]) -> tuple[int, int, float] | None:
    """(min, max, mean) allowed for the batch's row count, or None without enough published history."""
    if len(trailing_rows) < uc.validation.row_count_min_history:
        return None
    mean = sum(trailing_rows) / len(trailing_rows)
    low, high = uc.validation.row_count_band
    return max(1, math.floor(mean * low)), math.ceil(mean * high), mean


def builtin_expectations(uc: UseCase, ctx: GateContext) -> list[dict[str, Any]]:
    """The checks every use case gets from its declaration, for one score date (pure)."""
    v = uc.validation
    checks = [
        builtin_check("row_count", uc, "expect_table_row_count_to_be_between", min_value=1),
        builtin_check("entity_id", uc, "expect_column_values_to_not_be_null", column="entity_id"),
        builtin_check("entity_id", uc, "expect_column_values_to_be_unique", column="entity_id"),
    ]
    band = row_count_band(uc, ctx.trailing_rows)
    if band is not None:
        checks.append(
            builtin_check(
                "row_count_band", uc, "expect_table_row_count_to_be_between", min_value=band[0], max_value=band[1]
            )
        )
        checks[-1]["meta"]["trailing_mean"] = round(band[2], 1)
    for column, sql_type in uc.batch.columns.items():
        checks.append(builtin_check("column_exists", uc, "expect_column_to_exist", column=column))
        checks.append(
            builtin_check(
                "column_type",
                uc,
                "expect_column_values_to_be_in_type_list",
                column=column,
                type_list=GX_TYPES[sql_type],
            )
        )
        if column == "entity_id":
            continue
        ceiling = v.null_rate_max.get(column, v.null_rate_max_default)
        if ceiling < 1.0:
            checks.append(
                builtin_check(
                    "all_null", uc, "expect_column_values_to_not_be_null", column=column, mostly=ALL_NULL_MOSTLY
                )
            )
            checks.append(
                builtin_check(
                    "null_rate",
                    uc,
                    "expect_column_proportion_of_non_null_values_to_be_between",
                    column=column,
                    min_value=round(1.0 - ceiling, 6),
                )
            )
    for column, (low, high) in v.ranges.items():
        checks.append(
            builtin_check(
                "range", uc, "expect_column_values_to_be_between", column=column, min_value=low, max_value=high
            )
        )
    for column, values in {**ctx.known_categories, **v.categories}.items():
        if column in uc.batch.columns and values:
            checks.append(
                builtin_check(
                    "categories",
                    uc,
                    "expect_column_values_to_be_in_set",
                    column=column,
                    value_set=sorted(values),
                    mostly=round(1.0 - v.max_unseen_category_share, 6),
                )
            )
    if v.event_time_column:
        start = dt.datetime.combine(ctx.score_date, dt.time(0), tzinfo=dt.UTC)
        low_h, high_h = v.event_time_window_hours
        checks.append(
            builtin_check(
                "event_time",
                uc,
                "expect_column_values_to_be_between",
                column=v.event_time_column,
                min_value=(start + dt.timedelta(hours=low_h)).isoformat(),
                max_value=(start + dt.timedelta(hours=high_h)).isoformat(),
            )
        )
    return checks


def skipped_checks(uc: UseCase, ctx: GateContext) -> list[CheckResult]:
    """The built-in checks that cannot run for this date, recorded as skipped rather than left out silently: the
    volume band before enough dates are published."""
    v = uc.validation
    if row_count_band(uc, ctx.trailing_rows) is not None:
        return []
    reason = (
        f"skipped: the volume band needs {v.row_count_min_history} dates published in the "
        f"{v.row_count_window_days} days before {ctx.score_date.isoformat()}, found {len(ctx.trailing_rows)}"
    )
    return [
        CheckResult(
            expectation="expect_table_row_count_to_be_between",
            column=None,
            severity=v.severity.of("row_count_band"),
            success=None,
            kind="row_count_band",
            error=reason,
        )
    ]


def skipped_line(score_date: dt.date, checks: list[CheckResult]) -> str | None:
    """One line naming every skipped check of a date, or None."""
    skipped = [
        f"{c.kind or c.expectation} ({(c.error or '').removeprefix('skipped: ')})" for c in checks if c.success is None
    ]
    return f"validation skipped for {score_date.isoformat()}: " + "; ".join(skipped) if skipped else None


def freshness_expectations(uc: UseCase) -> list[dict[str, Any]]:
    """Checks on the run's freshness probe: one row, and the source complete through the score date."""
    return [
        builtin_check("freshness", uc, "expect_column_values_to_not_be_null", column="fresh_through"),
        builtin_check("freshness", uc, "expect_column_max_to_be_between", column="days_behind", max_value=0),
    ]


def _pct(value: float) -> str:
    return f"{value:.0%}" if value >= 0.01 or value == 0 else f"{value:.2%}"


MAX_EXAMPLE = 60  # characters of an example value in a failure line


def shown(value: Any) -> str:
    """An example value as a failure line shows it: dates in ISO form, long values cut (with their length)."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= MAX_EXAMPLE else f"{text[:MAX_EXAMPLE]}... ({len(text):,} characters)"


def describe(check: CheckResult) -> str:
    """A short phrase for a failed check, e.g. ``distance out of range (3 rows)``."""
    col, n, kind, kw = check.column, check.unexpected_count, check.expectation, check.kwargs
    if check.error:
        first = check.error.strip().splitlines()[0]
        if "does not exist" in first and col:
            return f"column {col} missing"
        return f"{kind} on {col or 'table'} could not run ({first[:160]})"
    rows = f"{n} rows" if n is not None else "some rows"
    example = f", e.g. {shown(check.partial_unexpected[0])}" if check.partial_unexpected else ""
    if check.kind == "row_count_band":
        return (
            f"row count {check.observed_value} outside {kw.get('min_value')}..{kw.get('max_value')} "
            "(the band around the trailing mean of published dates)"
        )
    if kind == "expect_table_row_count_to_be_between":
        if check.observed_value == 0:
            return "batch is empty (0 rows)"
        return f"row count {check.observed_value} outside the allowed range"
    if check.kind == "freshness":
        if kind == "expect_column_values_to_not_be_null":
            return "the source holds no data at all (freshness unknown)"
        return f"source data ends {check.observed_value} day(s) before the score date"
    if check.kind == "column_type" or kind == "expect_column_values_to_be_in_type_list":
        return f"{col} has type {check.observed_value} (declared {', '.join(kw.get('type_list', []))})"
    if check.kind == "all_null":
        return f"{col} is entirely null"
    if check.kind == "null_rate":
        observed = check.observed_value if isinstance(check.observed_value, (int, float)) else None
        null_share = _pct(1 - observed) if observed is not None else "?"
        return f"{col} null rate {null_share} above its ceiling {_pct(1 - kw.get('min_value', 0))}"
    if check.kind == "categories":
        return f"{col} has categories the model never saw ({rows}{example})"
    if check.kind == "event_time":
        return f"{col} dated outside {kw.get('min_value')}..{kw.get('max_value')} ({rows}{example})"
    phrases = {
        "expect_column_to_exist": f"column {col} missing",
        "expect_column_values_to_not_be_null": f"{col} has nulls ({rows})",
        # GX counts every row involved: two copies of one id are 2 rows
        "expect_column_values_to_be_unique": f"{col} not unique ({n} rows share a value)",
        "expect_compound_columns_to_be_unique": f"{'+'.join(kw.get('column_list', []))} not unique ({rows})",
        "expect_column_values_to_be_between": f"{col} out of range ({rows}{example})",
        "expect_column_values_to_be_in_set": f"{col} has unexpected values ({rows}{example})",
        "expect_column_values_to_match_regex": f"{col} malformed ({rows}{example})",
        "expect_column_distinct_values_to_equal_set": f"{col} has values {check.observed_value}",
    }
    return phrases.get(kind, f"{kind} failed on {col or 'table'}")


def failure_line(
    score_date: dt.date | None, checks: list[CheckResult], severity: str = "critical", subject: str | None = None
) -> str | None:
    """One line naming every failed check of ``severity``, or None when they all passed."""
    failed = [describe(c) for c in checks if c.success is False and c.severity == severity]
    if not failed:
        return None
    what = subject or (score_date.isoformat() if score_date else "the data")
    return f"validation failed for {what}: " + "; ".join(dict.fromkeys(failed))
