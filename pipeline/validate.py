"""Validate: the fail-closed Great Expectations gate, pushed down into Postgres.

Each validation runs a suite on a staged table through a GX SQL datasource: GX sends aggregate queries, the
data never comes into pandas. A suite is the dataset's file in ``expectations/`` plus built-in checks
generated from the use case's ``[validation]`` table (row count and its band around recent volumes,
freshness, entity ids, declared columns and types, null rates, ranges, categories the champion knows,
event time). Every expectation is ``critical`` (the run stops before scoring, with one line naming what
failed) or ``warning`` (recorded and logged, the run goes on) or ``info``. Every result is written to
``batchscore.validation_results`` and to Data Docs. A GX error is a failure too: the gate never opens by
accident.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pipeline.db import redact
from pipeline.settings import load_settings, project_root
from pipeline.sqlfiles import load_sql
from pipeline.staging import STAGING_SCHEMA, staging_tables
from pipeline.usecase import SEVERITIES, UseCase

log = logging.getLogger(__name__)

#: GX's reflected type names accepted for each declared PostgreSQL type
GX_TYPES: dict[str, list[str]] = {
    "integer": ["INTEGER"], "bigint": ["BIGINT"], "smallint": ["SMALLINT"],
    "double precision": ["DOUBLE PRECISION"], "real": ["REAL"], "numeric": ["NUMERIC"],
    "text": ["TEXT", "VARCHAR"], "varchar": ["TEXT", "VARCHAR"], "character varying": ["TEXT", "VARCHAR"],
    "date": ["DATE"], "timestamp": ["TIMESTAMP WITHOUT TIME ZONE", "TIMESTAMP"],
    "timestamptz": ["TIMESTAMP WITH TIME ZONE"], "boolean": ["BOOLEAN"],
}
# "not null" with this `mostly` passes as soon as one value is present (and, unlike a proportion check, on an
# empty batch, which the row-count check reports on its own)
ALL_NULL_MOSTLY = 1e-9
_gx_import_lock = threading.Lock()


class SuiteError(ValueError):
    """An expectation suite file is unreadable or lost expectations while loading."""


class ValidationFailed(RuntimeError):
    """A critical check failed: the data must not be scored or trained on. The message is one line."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one expectation, flattened from GX's result object."""

    expectation: str
    column: str | None
    severity: str
    success: bool
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
    trailing_rows: tuple[int, ...] = ()                        # published volumes of recent dates
    known_categories: dict[str, tuple[str, ...]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------- pure


def _check(kind: str, uc: UseCase, kind_type: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": kind_type, "kwargs": kwargs, "severity": uc.validation.severity[kind],
            "meta": {"source": "builtin", "kind": kind}}


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
        _check("row_count", uc, "expect_table_row_count_to_be_between", min_value=1),
        _check("entity_id", uc, "expect_column_values_to_not_be_null", column="entity_id"),
        _check("entity_id", uc, "expect_column_values_to_be_unique", column="entity_id"),
    ]
    band = row_count_band(uc, ctx.trailing_rows)
    if band is not None:
        checks.append(_check("row_count_band", uc, "expect_table_row_count_to_be_between",
                             min_value=band[0], max_value=band[1]))
        checks[-1]["meta"]["trailing_mean"] = round(band[2], 1)
    for column, sql_type in uc.batch_columns.items():
        checks.append(_check("column_exists", uc, "expect_column_to_exist", column=column))
        checks.append(_check("column_type", uc, "expect_column_values_to_be_in_type_list",
                             column=column, type_list=GX_TYPES[sql_type]))
        if column == "entity_id":
            continue
        ceiling = v.null_rate_max.get(column, v.null_rate_max_default)
        if ceiling < 1.0:
            checks.append(_check("all_null", uc, "expect_column_values_to_not_be_null",
                                 column=column, mostly=ALL_NULL_MOSTLY))
            checks.append(_check("null_rate", uc, "expect_column_proportion_of_non_null_values_to_be_between",
                                 column=column, min_value=round(1.0 - ceiling, 6)))
    for column, (low, high) in v.ranges.items():
        checks.append(_check("range", uc, "expect_column_values_to_be_between",
                             column=column, min_value=low, max_value=high))
    for column, values in {**ctx.known_categories, **v.categories}.items():
        if column in uc.batch_columns and values:
            checks.append(_check("categories", uc, "expect_column_values_to_be_in_set", column=column,
                                 value_set=sorted(values), mostly=round(1.0 - v.max_unseen_category_share, 6)))
    if v.event_time_column:
        start = dt.datetime.combine(ctx.score_date, dt.time(0), tzinfo=dt.UTC)
        low_h, high_h = v.event_time_window_hours
        checks.append(_check("event_time", uc, "expect_column_values_to_be_between", column=v.event_time_column,
                             min_value=(start + dt.timedelta(hours=low_h)).isoformat(),
                             max_value=(start + dt.timedelta(hours=high_h)).isoformat()))
    return checks


def freshness_expectations(uc: UseCase) -> list[dict[str, Any]]:
    """Checks on the run's freshness probe: one row, and the source complete through the score date."""
    return [
        _check("freshness", uc, "expect_column_values_to_not_be_null", column="fresh_through"),
        _check("freshness", uc, "expect_column_max_to_be_between", column="days_behind", max_value=0),
    ]


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


def make_definition(name: str, expectations: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """A suite definition with every expectation tagged by its position (GX reorders results)."""
    tagged = []
    for i, item in enumerate(expectations):
        item = {**item, "severity": item.get("severity", "critical")}
        item["meta"] = {**(item.get("meta") or {}), "position": i}
        tagged.append(item)
    return {"name": name, "expectations": tagged, "meta": meta}


def suite_definition(uc: UseCase, ctx: GateContext, suite_file: str | None = None) -> dict[str, Any]:
    """The batch suite: built-in checks for ``ctx`` plus the use case's suite file."""
    path = project_root() / "expectations" / (suite_file or uc.validation.suite)
    data = read_suite_file(path)
    return make_definition(data["name"], builtin_expectations(uc, ctx) + list(data["expectations"]),
                           {**data.get("meta", {}), "file": str(path)})


def build_suite(definition: dict[str, Any]) -> Any:
    """A GX ExpectationSuite from a definition; refuses when GX dropped any expectation while loading.

    (GX 1.x drops unknown expectation types and bad severities with only a log line.)
    """
    _quiet_gx()
    import great_expectations as gx

    _quiet_gx()
    suite = gx.ExpectationSuite(**definition)
    loaded = {(e.meta or {}).get("position") for e in suite.expectations}
    dropped = [e for i, e in enumerate(definition["expectations"]) if i not in loaded]
    if dropped:
        kinds = ", ".join(sorted({str(e.get("type")) for e in dropped}))
        source = definition.get("meta", {}).get("file", definition["name"])
        raise SuiteError(f"{source}: GX did not accept {len(dropped)} expectation(s) of type {kinds}")
    return suite


def _pct(value: float) -> str:
    return f"{value:.0%}" if value >= 0.01 or value == 0 else f"{value:.2%}"


def describe(check: CheckResult) -> str:
    """A short phrase for a failed check, e.g. ``distance out of range (3 rows)``."""
    col, n, kind, kw = check.column, check.unexpected_count, check.expectation, check.kwargs
    if check.error:
        first = check.error.strip().splitlines()[0]
        if "does not exist" in first and col:
            return f"column {col} missing"
        return f"{kind} on {col or 'table'} could not run ({first[:160]})"
    rows = f"{n} rows" if n is not None else "some rows"
    example = f", e.g. {check.partial_unexpected[0]!r}" if check.partial_unexpected else ""
    if check.kind == "row_count_band":
        return (f"row count {check.observed_value} outside {kw.get('min_value')}..{kw.get('max_value')} "
                "(the band around the trailing mean of published dates)")
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


def failure_line(score_date: dt.date | None, checks: list[CheckResult], severity: str = "critical",
                 subject: str | None = None) -> str | None:
    """One line naming every failed check of ``severity``, or None when they all passed."""
    failed = [describe(c) for c in checks if not c.success and c.severity == severity]
    if not failed:
        return None
    what = subject or (score_date.isoformat() if score_date else "the data")
    return f"validation failed for {what}: " + "; ".join(dict.fromkeys(failed))


# -------------------------------------------------------------------------------------------------- GX I/O


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


def data_docs_dir() -> Path:
    """Where Data Docs are written (``$BATCHSCORE_HOME/data_docs``)."""
    return load_settings().home / "data_docs"


def prune_docs_store(keep: int | None = None) -> int:
    """Keep only the newest ``keep`` validation results in the Data Docs store (default
    ``BATCHSCORE_DATA_DOCS_KEEP`` or 60): GX rebuilds the index from every stored result, so an unbounded store
    makes each validation slower. The full history stays in ``batchscore.validation_results``. Returns how many
    results were removed."""
    import os

    keep = keep if keep is not None else int(os.environ.get("BATCHSCORE_DATA_DOCS_KEEP", "60"))
    store = load_settings().home / "gx" / "uncommitted" / "validations"
    if not store.is_dir():
        return 0
    results = sorted(store.rglob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in results[keep:]:
        old.unlink(missing_ok=True)
    for folder in sorted((p for p in store.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return max(0, len(results) - keep)


def _gx_context(docs_dir: Path | None) -> Any:
    """A new GX context for one validation. With ``docs_dir``, its validation results are kept in files under
    ``$BATCHSCORE_HOME/gx`` so that Data Docs keep earlier validations (GX deletes the pages of results its
    store no longer holds); suites, definitions and checkpoints stay in memory (storing them in files costs
    seconds per run). No connection string is ever written there."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    if docs_dir is None:
        context = gx.get_context(mode="ephemeral")
    else:
        docs_dir.mkdir(parents=True, exist_ok=True)
        prune_docs_store()
        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            data_docs_sites={"batchscore": {
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            }},
        )
        config.stores[config.validation_results_store_name] = {
            "class_name": "ValidationResultsStore",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(load_settings().home / "gx" / "uncommitted" / "validations")},
        }
        context = gx.get_context(mode="ephemeral", project_config=config)
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


def run_suite(url: str, table: str, definition: dict[str, Any], *, dataset: str = "batch",
              run_name: str | None = None, docs_dir: Path | None = None, examples: int = 0) -> list[CheckResult]:
    """Validate ``STAGING_SCHEMA.table`` against a suite definition inside Postgres; results in suite order.

    A fresh ephemeral GX context per call keeps contexts out of each other's threads. With ``docs_dir``
    the run also updates the Data Docs site there. ``examples``: how many unexpected values to fetch per
    check; each costs GX an extra scan per check even when it passes, so the gate asks for them only in a
    second pass over the checks that failed (:func:`with_examples`).
    """
    with _gx_import_lock:
        _quiet_gx()
        import great_expectations as gx
        from great_expectations.checkpoint import UpdateDataDocsAction
        from great_expectations.core.run_identifier import RunIdentifier
        from sqlalchemy.engine import make_url

        _quiet_gx()  # importing GX resets its logger levels

    suite = build_suite(definition)
    context = _gx_context(docs_dir)
    # the search path puts the staging schema first (GX's schema_name argument is deprecated)
    connection = make_url(url).update_query_dict({"options": f"-csearch_path={STAGING_SCHEMA}"})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # GxDatasourceWarning: add_sql on a Postgres URL is intended
            # a stable name: the validation definitions kept in the file stores refer to it
            datasource = context.data_sources.add_sql(
                name="batchscore",
                connection_string=connection.render_as_string(hide_password=False),
            )
    except Exception as exc:
        # the exception may quote the connection string: never let it through
        raise RuntimeError(f"validation could not connect to {redact(connection)}: {type(exc).__name__}") from None
    try:
        asset = datasource.add_table_asset(name=dataset, table_name=table)
        batch_definition = asset.add_batch_definition_whole_table("whole")
        actions: list[Any] = []
        if docs_dir is not None:
            actions.append(UpdateDataDocsAction(name="data_docs", site_names=["batchscore"]))
        suite = context.suites.add(suite)
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{definition['name']}_{dataset}", data=batch_definition, suite=suite)
        )
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name=f"batchscore_{dataset}", validation_definitions=[validation], actions=actions,
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": examples},
        ))
        outcome = checkpoint.run(run_id=RunIdentifier(run_name=run_name or dataset))
        [result] = list(outcome.run_results.values())
    finally:
        datasource.get_execution_engine().engine.dispose()
        datasource.get_engine().dispose()

    checks = []
    for item in result.results:
        config = item.expectation_config
        if config is None:  # fail closed: a result we cannot attribute is not a pass
            raise RuntimeError("GX returned a validation result without its expectation")
        details = item.result or {}
        kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
        meta = config.meta or {}
        checks.append((meta.get("position", 0), CheckResult(
            expectation=config.type,
            column=kwargs.get("column"),
            severity=config.severity.value if hasattr(config.severity, "value") else str(config.severity),
            success=bool(item.success),
            kind=meta.get("kind"),
            observed_value=details.get("observed_value"),
            unexpected_count=details.get("unexpected_count"),
            element_count=details.get("element_count"),
            partial_unexpected=list(details.get("partial_unexpected_list") or [])[:5],
            error=_exception_message(item.exception_info),
            kwargs=kwargs,
            dataset=dataset,
        )))
    return [check for _, check in sorted(checks, key=lambda pair: pair[0])]


# -------------------------------------------------------------------------------------------- the stages


def with_examples(url: str, table: str, definition: dict[str, Any], checks: list[CheckResult],
                  dataset: str) -> list[CheckResult]:
    """Fetch a few unexpected values for the failed row-level checks (for the failure line), in one more pass
    over those checks only."""
    import dataclasses

    failed = [i for i, c in enumerate(checks) if not c.success and c.unexpected_count and not c.error]
    if not failed:
        return checks
    subset = make_definition(f"{definition['name']}_examples",
                             [definition["expectations"][i] for i in failed], definition.get("meta", {}))
    details = run_suite(url, table, subset, dataset=dataset, examples=5)
    merged = list(checks)
    for i, detail in zip(failed, details, strict=True):
        merged[i] = dataclasses.replace(merged[i], partial_unexpected=detail.partial_unexpected)
    return merged


def gate_context(engine: Engine, uc: UseCase, score_date: dt.date) -> GateContext:
    """Recent published volumes and the champion's known categories, for the built-in checks."""
    from pipeline.registry import ModelError, get_champion

    with engine.connect() as conn:
        trailing = conn.execute(
            sa.text(load_sql("queries/trailing_row_counts.sql")),
            {"use_case": uc.name, "score_date": score_date, "window_days": uc.validation.row_count_window_days},
        ).scalars().all()
    known: dict[str, tuple[str, ...]] = {}
    try:
        features = get_champion(engine, uc.name).features
        known = {name: tuple(spec["categories"]) for name, spec in features.items()
                 if isinstance(spec, dict) and spec.get("categories")}
    except ModelError:
        pass  # no champion yet: nothing to compare categories with
    return GateContext(score_date, tuple(int(n) for n in trailing), known)


def record_results(engine: Engine, uc: UseCase, run_id: str, score_date: dt.date | None, suite: str,
                   checks: list[CheckResult]) -> None:
    """Write one ``validation_results`` row per check (its own transaction: evidence survives a rejection)."""
    rows = [{
        "run_id": run_id, "use_case": uc.name, "score_date": score_date, "dataset": c.dataset, "suite": suite,
        "expectation": c.expectation, "column_name": c.column, "check_kind": c.kind, "severity": c.severity,
        "success": c.success, "observed_value": json.dumps(c.observed_value, default=str),
        "unexpected_count": c.unexpected_count, "element_count": c.element_count, "error": c.error,
        "kwargs": json.dumps(c.kwargs, default=str),
    } for c in checks]
    if rows:
        with engine.begin() as conn:
            conn.execute(sa.text(load_sql("queries/insert_validation_result.sql")), rows)


def _decide(checks: list[CheckResult], subject: str) -> tuple[str, str | None, str | None]:
    warnings_line = failure_line(None, checks, "warning", subject=subject)
    if warnings_line:
        log.warning("%s", warnings_line.replace("validation failed", "validation warnings", 1))
    reason = failure_line(None, checks, "critical", subject=subject)
    status = "failed" if reason else ("passed_with_warnings" if warnings_line else "passed")
    return status, reason, warnings_line


def validate_staged_batch(engine: Engine, uc: UseCase, score_date: dt.date, run_id: str, *,
                          rows: int | None = None) -> dict[str, Any]:
    """Run the gate on the run's staged batch (and freshness probe); raise :class:`ValidationFailed` when a
    critical check fails, after writing the evidence and a ``rejected`` ledger row. Predictions are untouched.
    """
    from pipeline.publish import record_unpublished_run

    started = time.perf_counter()
    tables = staging_tables(uc.name, score_date, run_id)
    url = engine.url.render_as_string(hide_password=False)
    docs = data_docs_dir()
    run_name = f"{score_date.isoformat()}__{run_id}"
    definition = suite_definition(uc, gate_context(engine, uc, score_date))
    checks = run_suite(url, tables.names["batch"], definition, run_name=run_name, docs_dir=docs)
    checks = with_examples(url, tables.names["batch"], definition, checks, "batch")
    if uc.validation.freshness_sql:
        probe = make_definition(f"{uc.name}_freshness", freshness_expectations(uc), {"file": "built-in"})
        # two checks, recorded in validation_results: not worth a Data Docs rebuild of their own
        checks += run_suite(url, tables.names["freshness"], probe, dataset="freshness", run_name=run_name)
    record_results(engine, uc, run_id, score_date, definition["name"], checks)
    seconds = round(time.perf_counter() - started, 3)
    status, reason, warnings_line = _decide(checks, score_date.isoformat())
    log.info("Data Docs: %s", docs / "index.html")
    summary = {"evaluated": len(checks), "failed": sum(not c.success for c in checks)}
    if reason:
        record_unpublished_run(engine, uc, score_date, run_id, status="rejected", reason=reason,
                               rows_in=rows, validation_status="failed", timings={"validate": seconds})
        log.error("%s", reason)
        raise ValidationFailed(reason)
    log.info("validation %s for %s: %d checks in %.2fs", status, score_date, len(checks), seconds)
    return {"status": status, **summary, "warnings": warnings_line, "seconds": seconds,
            "data_docs": str(docs / "index.html")}


def validate_training_table(engine: Engine, uc: UseCase, table: str, *, dataset: str, run_id: str) -> dict[str, Any]:
    """The training suite on a staged training or holdout set; raise :class:`ValidationFailed` when a
    critical check fails (before any model is fitted)."""
    if not uc.validation.training_suite:
        raise SuiteError(f"{uc.path}: declare 'validation.training_suite' to train (the training data gate)")
    path = project_root() / "expectations" / uc.validation.training_suite
    data = read_suite_file(path)
    builtin = [_check("row_count", uc, "expect_table_row_count_to_be_between",
                      min_value=uc.validation.training_min_rows if dataset == "training" else 1)]
    builtin += [_check("column_exists", uc, "expect_column_to_exist", column=c)
                for c in ("entity_id", "score_date", "label", *uc.feature_columns)]
    definition = make_definition(data["name"], builtin + list(data["expectations"]), {"file": str(path)})
    started = time.perf_counter()
    checks = run_suite(engine.url.render_as_string(hide_password=False), table, definition, dataset=dataset,
                       run_name=f"{dataset}__{run_id}", docs_dir=data_docs_dir())
    record_results(engine, uc, run_id, None, definition["name"], checks)
    status, reason, warnings_line = _decide(checks, f"the {dataset} set of {uc.name}")
    if reason:
        raise ValidationFailed(reason)
    return {"status": status, "warnings": warnings_line, "seconds": round(time.perf_counter() - started, 3)}
