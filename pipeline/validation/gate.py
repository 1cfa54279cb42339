"""The fail-closed gate, pushed down into PostgreSQL: a run's staged batch (or a training set) against its suite.

Every result is written to ``batchscore.validation_results`` (this module is its only writer) and to Data Docs;
a critical failure writes the evidence and a ``rejected`` ledger row, then raises :class:`ValidationFailed` with
one line naming every failed check.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.config.paths import expectations_dir
from pipeline.config.usecase import UseCase
from pipeline.contracts import TrainingValidation, Validation
from pipeline.db.ledger import REJECTED, record_unpublished_run, trailing_row_counts
from pipeline.db.sql import load_sql
from pipeline.db.staging import drop_staging, staging_tables
from pipeline.validation.checks import (
    CheckResult,
    GateContext,
    ValidationFailed,
    builtin_check,
    failure_line,
    freshness_expectations,
    skipped_checks,
    skipped_line,
)
from pipeline.validation.gx_runner import data_docs_dir, run_suite, with_examples
from pipeline.validation.suites import SuiteError, make_definition, read_suite_file, suite_definition

__all__ = ["ValidationFailed", "validate_staged_batch", "validate_training_table"]

log = logging.getLogger(__name__)


def gate_context(
    engine: Engine, uc: UseCase, score_date: dt.date, known_categories: dict[str, tuple[str, ...]] | None = None
) -> GateContext:
    """What the built-in checks of a date depend on: the volumes of recently published dates, and the categories
    the champion saw at training (given by the caller, who knows the champion; none before the first model)."""
    trailing = trailing_row_counts(engine, uc, score_date, uc.validation.row_count_window_days)
    return GateContext(score_date, trailing, dict(known_categories or {}))


def record_results(
    engine: Engine, uc: UseCase, run_id: str, score_date: dt.date | None, suite: str, checks: list[CheckResult]
) -> None:
    """Write one ``validation_results`` row per check (its own transaction: evidence survives a rejection)."""
    rows = [
        {
            "run_id": run_id,
            "use_case": uc.name,
            "score_date": score_date,
            "dataset": c.dataset,
            "suite": suite,
            "expectation": c.expectation,
            "column_name": c.column,
            "check_kind": c.kind,
            "severity": c.severity,
            "success": c.success,
            "observed_value": json.dumps(c.observed_value, default=str),
            "unexpected_count": c.unexpected_count,
            "element_count": c.element_count,
            "error": c.error,
            "kwargs": json.dumps(c.kwargs, default=str),
        }
        for c in checks
    ]
    if rows:
        with engine.begin() as conn:
            conn.execute(sa.text(load_sql("validation/insert_validation_result.sql")), rows)


def _decide(checks: list[CheckResult], subject: str) -> tuple[str, str | None, str | None]:
    warnings_line = failure_line(None, checks, "warning", subject=subject)
    if warnings_line:
        log.warning("%s", warnings_line.replace("validation failed", "validation warnings", 1))
    reason = failure_line(None, checks, "critical", subject=subject)
    status = "failed" if reason else ("passed_with_warnings" if warnings_line else "passed")
    return status, reason, warnings_line


def validate_staged_batch(
    engine: Engine,
    uc: UseCase,
    score_date: dt.date,
    run_id: str,
    *,
    rows: int | None = None,
    known_categories: dict[str, tuple[str, ...]] | None = None,
) -> Validation:
    """Run the gate on the run's staged batch (and freshness probe); raise :class:`ValidationFailed` when a
    critical check fails, after writing the evidence and a ``rejected`` ledger row. Predictions are untouched.
    ``known_categories``: per categorical column, the categories the champion saw at training.
    """
    started = time.perf_counter()
    tables = staging_tables(uc.name, score_date, run_id)
    url = engine.url.render_as_string(hide_password=False)
    docs = data_docs_dir()
    run_name = f"{score_date.isoformat()}__{run_id}"
    context = gate_context(engine, uc, score_date, known_categories)
    definition = suite_definition(uc, context)
    checks = run_suite(url, tables.names["batch"], definition, run_name=run_name, docs_dir=docs)
    checks = with_examples(url, tables.names["batch"], definition, checks, "batch")
    checks += skipped_checks(uc, context)  # recorded as such: a check that did not run is not a pass
    skipped = skipped_line(score_date, checks)
    if skipped:
        log.warning("%s", skipped)
    if uc.validation.freshness is not None:
        probe = make_definition(f"{uc.name}_freshness", freshness_expectations(uc), {"file": "built-in"})
        # two checks, recorded in validation_results: not worth a Data Docs rebuild of their own
        checks += run_suite(url, tables.names["freshness"], probe, dataset="freshness", run_name=run_name)
    record_results(engine, uc, run_id, score_date, definition["name"], checks)
    seconds = round(time.perf_counter() - started, 3)
    status, reason, warnings_line = _decide(checks, score_date.isoformat())
    log.info("Data Docs: %s", docs / "index.html")
    if reason:
        record_unpublished_run(
            engine,
            uc,
            score_date,
            run_id,
            status=REJECTED,
            reason=reason,
            rows_in=rows,
            validation_status="failed",
            timings={"validate": seconds},
        )
        log.error("%s", reason)
        drop_staging(engine, tables)  # nothing more to do with this run's tables: the evidence is recorded
        raise ValidationFailed(reason)
    log.info("validation %s for %s: %d checks in %.2fs", status, score_date, len(checks), seconds)
    return Validation(
        status=status,
        evaluated=sum(c.success is not None for c in checks),
        skipped=sum(c.success is None for c in checks),
        failed=sum(c.success is False for c in checks),
        warnings=warnings_line,
        seconds=seconds,
        data_docs=str(docs / "index.html"),
    )


def validate_training_table(
    engine: Engine, uc: UseCase, table: str, *, dataset: str, run_id: str
) -> TrainingValidation:
    """The training suite on a staged training or holdout set; raise :class:`ValidationFailed` when a
    critical check fails (before any model is fitted)."""
    if not uc.validation.training_suite:
        raise SuiteError(f"{uc.path}: declare 'validation.training_suite' to train (the training data gate)")
    path = expectations_dir() / uc.validation.training_suite
    data = read_suite_file(path)
    builtin = [
        builtin_check(
            "row_count",
            uc,
            "expect_table_row_count_to_be_between",
            min_value=uc.validation.training_min_rows if dataset == "training" else 1,
        )
    ]
    builtin += [
        builtin_check("column_exists", uc, "expect_column_to_exist", column=c)
        for c in ("entity_id", "score_date", "label", *uc.feature_columns)
    ]
    definition = make_definition(data["name"], builtin + list(data["expectations"]), {"file": str(path)})
    started = time.perf_counter()
    checks = run_suite(
        engine.url.render_as_string(hide_password=False),
        table,
        definition,
        dataset=dataset,
        run_name=f"{dataset}__{run_id}",
        docs_dir=data_docs_dir(),
    )
    record_results(engine, uc, run_id, None, definition["name"], checks)
    status, reason, warnings_line = _decide(checks, f"the {dataset} set of {uc.name}")
    if reason:
        raise ValidationFailed(reason)
    return TrainingValidation(status=status, warnings=warnings_line, seconds=round(time.perf_counter() - started, 3))


def failed_warnings(engine: Engine, uc: UseCase, run_id: str) -> list[dict[str, Any]]:
    """The warning-level checks a run failed (expectation, column, unexpected count), in check order."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "select expectation, column_name, unexpected_count from batchscore.validation_results "
                "where run_id = :r and use_case = :u and severity = 'warning' and not success order by id"
            ),
            {"u": uc.name, "r": run_id},
        )
        return [dict(r._mapping) for r in rows]
