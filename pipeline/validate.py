"""Validate: the fail-closed Great Expectations gate on the staged batch, pushed down into Postgres.

The suite file of the use case (``expectations/``) plus built-in checks generated from its declaration run
through a GX SQL datasource on the staging table: GX sends aggregate queries, the batch never comes into
pandas. A failed ``critical`` expectation stops the run before scoring with one line naming what failed;
``warning`` failures are logged and the run goes on. A GX error is a failure too: the gate never opens by
accident.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from pipeline.db import redact
from pipeline.settings import project_root
from pipeline.staging import STAGING_SCHEMA, staging_tables
from pipeline.usecase import UseCase

log = logging.getLogger(__name__)

SEVERITIES = ("critical", "warning", "info")


class SuiteError(ValueError):
    """An expectation suite file is unreadable or lost expectations while loading."""


class ValidationFailed(RuntimeError):
    """A critical expectation failed: the batch must not be scored. The message is one line."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one expectation, flattened from GX's result object."""

    expectation: str
    column: str | None
    severity: str
    success: bool
    observed_value: Any = None
    unexpected_count: int | None = None
    element_count: int | None = None
    error: str | None = None
    kwargs: dict[str, Any] | None = None


def builtin_expectations(uc: UseCase) -> list[dict[str, Any]]:
    """Checks every use case gets from its declaration: a non-empty batch, a clean entity id, all columns."""
    checks: list[dict[str, Any]] = [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "entity_id"}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "entity_id"}},
    ]
    checks += [{"type": "expect_column_to_exist", "kwargs": {"column": c}} for c in uc.batch_columns]
    return [{**c, "severity": "critical", "meta": {"source": "builtin"}} for c in checks]


def read_suite_file(path: Path) -> dict[str, Any]:
    """The JSON of a suite file, with a clear error when it is missing or malformed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(f"expectation suite not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list) or "name" not in data:
        raise SuiteError(f"{path}: a suite needs a 'name' and an 'expectations' list")
    for i, item in enumerate(data["expectations"]):
        severity = item.get("severity", "critical") if isinstance(item, dict) else None
        if severity not in SEVERITIES:
            raise SuiteError(f"{path}: expectation #{i + 1} has severity {severity!r}; use one of {SEVERITIES}")
    return data


def suite_definition(uc: UseCase) -> dict[str, Any]:
    """The use case's suite file plus the built-in checks, each tagged with its position."""
    path = project_root() / "expectations" / uc.validation_suite
    data = read_suite_file(path)
    expectations = builtin_expectations(uc) + [dict(e) for e in data["expectations"]]
    for i, item in enumerate(expectations):
        item.setdefault("severity", "critical")
        item["meta"] = {**(item.get("meta") or {}), "position": i}
    return {**data, "expectations": expectations, "meta": {**data.get("meta", {}), "file": str(path)}}


def build_suite(definition: dict[str, Any]) -> Any:
    """A GX ExpectationSuite from a definition; refuses when GX dropped any expectation while loading.

    (GX 1.x drops unknown expectation types and bad severities with only a log line.)
    """
    import great_expectations as gx

    suite = gx.ExpectationSuite(**definition)
    loaded = {(e.meta or {}).get("position") for e in suite.expectations}
    dropped = [e for i, e in enumerate(definition["expectations"]) if i not in loaded]
    if dropped:
        kinds = ", ".join(sorted({str(e.get("type")) for e in dropped}))
        source = definition.get("meta", {}).get("file", definition["name"])
        raise SuiteError(f"{source}: GX did not accept {len(dropped)} expectation(s) of type {kinds}")
    return suite


def _quiet_gx() -> None:
    # GX sets levels on some of its child loggers itself; quiet them all, not only the parent
    names = [n for n in logging.root.manager.loggerDict if n.startswith("great_expectations")]
    for name in ["great_expectations", *names]:
        logging.getLogger(name).setLevel(logging.WARNING)


def _exception_message(info: dict[str, Any] | None) -> str | None:
    if not info:
        return None
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    messages = [v.get("exception_message") for v in info.values()
                if isinstance(v, dict) and v.get("raised_exception")]
    return "; ".join(dict.fromkeys(m for m in messages if m)) or None


def run_suite(url: str, table: str, definition: dict[str, Any]) -> list[CheckResult]:
    """Validate ``STAGING_SCHEMA.table`` against a suite definition inside Postgres; results in suite order."""
    _quiet_gx()
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from sqlalchemy.engine import make_url

    _quiet_gx()  # importing GX resets its logger level

    suite = build_suite(definition)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    # the search path puts the staging schema first (GX's schema_name argument is deprecated)
    connection = make_url(url).update_query_dict({"options": f"-csearch_path={STAGING_SCHEMA}"})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # GxDatasourceWarning: add_sql on a Postgres URL is intended
            datasource = context.data_sources.add_sql(
                name=f"batchscore_{uuid.uuid4().hex[:8]}",
                connection_string=connection.render_as_string(hide_password=False),
            )
    except Exception as exc:
        # the exception may quote the connection string: never let it through
        raise RuntimeError(
            f"validation could not connect to {redact(connection)}: {type(exc).__name__}"
        ) from None
    try:
        asset = datasource.add_table_asset(name=table, table_name=table)
        batch = asset.add_batch_definition_whole_table("whole").get_batch()
        result = batch.validate(suite, result_format="SUMMARY")
    finally:
        datasource.get_execution_engine().engine.dispose()
        datasource.get_engine().dispose()

    checks = []
    for item in result.results:
        config = item.expectation_config
        details = item.result or {}
        kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
        checks.append(((config.meta or {}).get("position", 0), CheckResult(
            expectation=config.type,
            column=kwargs.get("column"),
            severity=config.severity.value if hasattr(config.severity, "value") else str(config.severity),
            success=bool(item.success),
            observed_value=details.get("observed_value"),
            unexpected_count=details.get("unexpected_count"),
            element_count=details.get("element_count"),
            error=_exception_message(item.exception_info),
            kwargs=kwargs,
        )))
    return [check for _, check in sorted(checks, key=lambda pair: pair[0])]


def describe(check: CheckResult) -> str:
    """A short phrase for a failed check, e.g. ``entity_id not unique (12 rows share a value)``."""
    col, n, kind = check.column, check.unexpected_count, check.expectation
    if check.error:
        first = check.error.strip().splitlines()[0]
        if "does not exist" in first and col:
            return f"column {col} missing"
        return f"{kind} on {col or 'table'} could not run ({first[:160]})"
    if kind == "expect_table_row_count_to_be_between":
        if check.observed_value == 0:
            return "batch is empty (0 rows)"
        return f"row count {check.observed_value} outside the allowed range"
    if kind == "expect_column_to_exist":
        return f"column {col} missing"
    rows = f"{n} rows" if n is not None else "some rows"
    phrases = {
        "expect_column_values_to_not_be_null": f"{col} has nulls ({rows})",
        # GX counts every row involved: two copies of one id are 2 rows
        "expect_column_values_to_be_unique": f"{col} not unique ({n} rows share a value)",
        "expect_column_values_to_be_between": f"{col} out of range ({rows})",
        "expect_column_values_to_be_in_set": f"{col} has unexpected values ({rows})",
        "expect_column_values_to_match_regex": f"{col} malformed ({rows})",
        "expect_column_values_to_be_of_type": f"{col} has type {check.observed_value}",
    }
    return phrases.get(kind, f"{kind} failed on {col or 'table'}")


def failure_line(score_date: dt.date, checks: list[CheckResult], severity: str = "critical") -> str | None:
    """One line naming every failed check of ``severity``, or None when they all passed."""
    failed = [describe(c) for c in checks if not c.success and c.severity == severity]
    if not failed:
        return None
    return f"validation failed for {score_date.isoformat()}: " + "; ".join(dict.fromkeys(failed))


def validate_staged_batch(engine: Engine, uc: UseCase, score_date: dt.date, run_id: str, *,
                          rows: int | None = None) -> dict[str, Any]:
    """Run the gate on the run's staged batch; raise :class:`ValidationFailed` on a critical failure.

    A rejection is written to the scoring-run ledger (status ``rejected``) before raising, and the
    predictions of the date are not touched.
    """
    from pipeline.publish import record_unpublished_run

    started = time.perf_counter()
    tables = staging_tables(uc.name, score_date, run_id)
    definition = suite_definition(uc)
    checks = run_suite(engine.url.render_as_string(hide_password=False), tables.names["batch"], definition)
    seconds = round(time.perf_counter() - started, 3)
    warnings_line = failure_line(score_date, checks, "warning")
    if warnings_line:
        log.warning("%s", warnings_line.replace("validation failed", "validation warnings"))
    reason = failure_line(score_date, checks, "critical")
    summary = {"evaluated": len(checks), "failed": sum(not c.success for c in checks)}
    if reason:
        record_unpublished_run(engine, uc, score_date, run_id, status="rejected", reason=reason,
                               rows_in=rows, validation_status="failed", timings={"validate": seconds})
        log.error("%s", reason)
        raise ValidationFailed(reason)
    status = "passed_with_warnings" if warnings_line else "passed"
    log.info("validation %s for %s: %d checks in %.2fs", status, score_date, len(checks), seconds)
    return {"status": status, **summary, "warnings": warnings_line, "seconds": seconds}
