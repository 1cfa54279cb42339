"""Running a suite inside PostgreSQL through a GX SQL datasource, and the Data Docs site it updates.

GX sends aggregate queries; the data never comes into pandas. A GX error is a failure too (the gate never opens
by accident), and no connection string is ever written to a file or an error message.
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path
from typing import Any

from pipeline.config.settings import load_settings
from pipeline.db.engine import redact
from pipeline.db.schema import STAGING_SCHEMA
from pipeline.errors import BatchscoreError, TransientError
from pipeline.validation.checks import CheckResult
from pipeline.validation.suites import SuiteError, make_definition

_gx_import_lock = threading.Lock()


class GateError(BatchscoreError):
    """GX answered with something the gate cannot attribute: fail closed (nothing is scored)."""


class GateUnavailable(TransientError):
    """GX could not reach the database: the gate stays closed; a retry may find it back."""


def import_gx() -> Any:
    """``great_expectations``, imported once per process with its ~200 INFO lines silenced."""
    with _gx_import_lock:
        _quiet_gx()
        import great_expectations as gx

        _quiet_gx()  # importing GX resets its logger levels
    return gx


def build_suite(definition: dict[str, Any]) -> Any:
    """A GX ExpectationSuite from a definition; refuses when GX dropped any expectation while loading.

    (GX 1.x drops unknown expectation types and bad severities with only a log line.)
    """
    gx = import_gx()
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
    messages = [v.get("exception_message") for v in info.values() if isinstance(v, dict) and v.get("raised_exception")]
    return "; ".join(dict.fromkeys(m for m in messages if m)) or None


def data_docs_dir() -> Path:
    """Where Data Docs are written (``$BATCHSCORE_HOME/data_docs``)."""
    return load_settings().home / "data_docs"


def prune_docs_store(keep: int | None = None) -> int:
    """Keep only the newest ``keep`` validation results in the Data Docs store (default
    ``BATCHSCORE_DATA_DOCS_KEEP`` or 60): GX rebuilds the index from every stored result, so an unbounded store
    makes each validation slower. The full history stays in ``batchscore.validation_results``. Returns how many
    results were removed."""
    keep = keep if keep is not None else load_settings().data_docs_keep
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
    gx = import_gx()
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
            data_docs_sites={
                "batchscore": {
                    "class_name": "SiteBuilder",
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                }
            },
        )
        config.stores[config.validation_results_store_name] = {
            "class_name": "ValidationResultsStore",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(load_settings().home / "gx" / "uncommitted" / "validations"),
            },
        }
        context = gx.get_context(mode="ephemeral", project_config=config)
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


def run_suite(
    url: str,
    table: str,
    definition: dict[str, Any],
    *,
    dataset: str = "batch",
    run_name: str | None = None,
    docs_dir: Path | None = None,
    examples: int = 0,
) -> list[CheckResult]:
    """Validate ``STAGING_SCHEMA.table`` against a suite definition inside Postgres; results in suite order.

    A fresh ephemeral GX context per call keeps contexts out of each other's threads. With ``docs_dir``
    the run also updates the Data Docs site there. ``examples``: how many unexpected values to fetch per
    check; each costs GX an extra scan per check even when it passes, so the gate asks for them only in a
    second pass over the checks that failed (:func:`with_examples`).
    """
    gx = import_gx()
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier
    from sqlalchemy.engine import make_url

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
        raise GateUnavailable(f"validation could not connect to {redact(connection)}: {type(exc).__name__}") from None
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
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"batchscore_{dataset}",
                validation_definitions=[validation],
                actions=actions,
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": examples},
            )
        )
        outcome = checkpoint.run(run_id=RunIdentifier(run_name=run_name or dataset))
        [result] = list(outcome.run_results.values())
    finally:
        datasource.get_execution_engine().engine.dispose()
        datasource.get_engine().dispose()

    checks = []
    for item in result.results:
        config = item.expectation_config
        if config is None:  # fail closed: a result we cannot attribute is not a pass
            raise GateError("GX returned a validation result without its expectation")
        details = item.result or {}
        kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
        meta = config.meta or {}
        checks.append(
            (
                meta.get("position", 0),
                CheckResult(
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
                ),
            )
        )
    return [check for _, check in sorted(checks, key=lambda pair: pair[0])]


def with_examples(
    url: str, table: str, definition: dict[str, Any], checks: list[CheckResult], dataset: str
) -> list[CheckResult]:
    """Fetch a few unexpected values for the failed row-level checks (for the failure line), in one more pass
    over those checks only."""
    import dataclasses

    failed = [i for i, c in enumerate(checks) if c.success is False and c.unexpected_count and not c.error]
    if not failed:
        return checks
    subset = make_definition(
        f"{definition['name']}_examples", [definition["expectations"][i] for i in failed], definition.get("meta", {})
    )
    details = run_suite(url, table, subset, dataset=dataset, examples=5)
    merged = list(checks)
    for i, detail in zip(failed, details, strict=True):
        merged[i] = dataclasses.replace(merged[i], partial_unexpected=detail.partial_unexpected)
    return merged
