"""``batchscore check``: every declaration error that can be found in seconds, without training, each on one line
naming the file and the key (and the column or date).

What it checks, in order (all of them, not just the first that fails):

- the loader's checks (:func:`pipeline.config.loading.declaration_problems`): unknown keys, types, values,
  hyper-parameters (the estimator is constructed), the schedule, missing SQL and suite files, a table another TOML
  in ``usecases/`` names;
- the queries' shapes, each run for one day and wrapped as ``select * from (...) limit 0`` (no rows are read): the
  batch query's columns and types against ``[batch.columns]``, the feature query (over the batch) against
  ``[features]``, the labels query's columns and the label's type against ``[target] kind`` (for an integer
  binary label, the values of a small sample of that day), the freshness query's ``fresh_through``;
- the suite files: readable, their expectations well formed and naming columns the data has, every expectation
  type known to GX (``gx=True``: GX drops an unknown type with only a log line);
- table ownership against the database (:mod:`pipeline.db.ownership`).

The day probed is ``[demo] first_night`` when declared, else ``[training] holdout_to``: a day the source holds.

Types are compared as strictly as the validation gate's ``column_type`` check compares the staged batch
(:data:`pipeline.validation.checks.GX_TYPES`), so a declaration ``check`` passes is one the gate will not refuse
for its types: integer widths must match (``integer`` is not ``bigint``), ``real`` is not ``double precision``,
``timestamp`` is not ``timestamptz``; ``text``, ``varchar`` and ``character varying`` are one family (``char(n)``
is not part of it); a ``numeric`` of any precision is ``numeric``.

Some problems depend on the source as it is tonight rather than on the declaration (a query the source's schema
no longer fits, a type the source changed, a label value): they are marked ``source``. A scheduled run leaves
those to the stage that reads the data, which rejects them as data (a ``rejected`` ledger row, the gate's evidence).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pipeline.config.loading import UseCaseError, declaration_problems, read_toml, shown, usecase_path
from pipeline.config.paths import expectations_dir
from pipeline.config.settings import load_settings
from pipeline.config.tables import NUMERIC_TYPES, TEXT_TYPES
from pipeline.config.usecase import UseCase
from pipeline.db.ownership import ownership_problems
from pipeline.db.queries import batch_query, explain_query_error, features_query
from pipeline.db.sql import load_sql, strip_trailing_semicolon
from pipeline.errors import ConfigError
from pipeline.validation.suites import gx_problems, read_suite_file, suite_file_problems

#: result column type oids -> the names ``[batch.columns]`` uses; others are named by the server (format_type)
TYPE_NAMES = {
    16: "boolean",
    20: "bigint",
    21: "smallint",
    23: "integer",
    25: "text",
    700: "real",
    701: "double precision",
    1043: "varchar",
    1082: "date",
    1114: "timestamp",
    1184: "timestamptz",
    1700: "numeric",
}
INTEGER_TYPES = frozenset({"smallint", "integer", "bigint"})
TIME_TYPES = frozenset({"date", "timestamp", "timestamptz"})
#: the label types each task kind takes
LABEL_TYPES = {
    "binary": ("boolean (or integer 0/1)", frozenset({"boolean"}) | INTEGER_TYPES),
    "multiclass": ("text or integer classes", TEXT_TYPES | INTEGER_TYPES),
    "regression": ("a numeric type", NUMERIC_TYPES),
}
PROBE_TIMEOUT = "30s"  # a probe plans a query and reads no rows: far below this unless something is wrong


@dataclass(frozen=True)
class Problem:
    """One declaration problem, as one line; ``source``: it depends on the source's current schema or data."""

    line: str
    source: bool = False


@dataclass
class DeclarationReport:
    """What :func:`check_declaration` found for one use case."""

    path: Path
    usecase: UseCase | None = None
    probe_date: dt.date | None = None
    problems: list[Problem] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def lines(self, *, at_run: bool = False) -> list[str]:
        """The problems' lines; ``at_run``: without those a run's own stages reject as data."""
        return [p.line for p in self.problems if not (at_run and p.source)]

    def summary(self) -> str:
        """The short "ok" line of a declaration without problems."""
        f, uc = self.facts, self.usecase
        assert uc is not None
        suites = f"{f.get('suites', 0)} suite file(s), {f.get('expectations', 0)} expectations" + (
            " known to GX" if f.get("gx") else " (types left to the gate)"
        )
        return (
            f"{self.path}: ok: {uc.name} ({uc.target.kind}): {len(uc.batch.columns)} batch columns and "
            f"{len(uc.feature_columns)} features as declared, the labels fit, {suites}, tables "
            f"batchscore.{uc.output.predictions_table} and batchscore.{uc.output.shadow_table} its own; queries "
            f"probed for {self.probe_date} ({self.seconds:.2f} s)"
        )


def probe_date(uc: UseCase) -> dt.date:
    """The one day the queries are probed for: ``[demo] first_night``, else ``[training] holdout_to``."""
    return uc.demo.first_night or uc.training.holdout_to


def check_declaration(engine: Engine, ref: str | None = None, *, gx: bool = True) -> DeclarationReport:
    """Check a use case's declaration (a name in ``usecases/`` or a TOML path); every problem found is in the
    report. ``gx``: also load every expectation into GX (imports GX, about 4 s in a fresh process)."""
    started = time.perf_counter()
    path = usecase_path(ref or load_settings().default_usecase)
    report = DeclarationReport(path=path)
    try:
        raw = read_toml(path)
    except UseCaseError as exc:
        report.problems.append(Problem(str(exc)))
        return report
    uc, lines = declaration_problems(raw, path)
    report.problems += [Problem(line) for line in lines]
    if uc is None:  # the queries and suites are checked once the declaration itself loads
        report.seconds = time.perf_counter() - started
        return report
    report.usecase, report.probe_date = uc, probe_date(uc)
    with engine.connect() as conn, conn.begin():
        conn.execute(sa.text("set transaction read only"))
        conn.execute(sa.text(f"set local statement_timeout = '{PROBE_TIMEOUT}'"))
        features = _check_queries(conn, uc, report)
        report.problems += [Problem(line) for line in ownership_problems(conn, uc)]
    _check_suites(uc, report, features, gx=gx)
    report.seconds = time.perf_counter() - started
    return report


# --- the queries ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Query:
    """One of the use case's query files: what to call it, its key, its path as declared, its text."""

    what: str
    key: str
    relative: str
    text: str  # the file's text
    query: str  # as embedded


def _probe(
    conn: Connection, uc: UseCase, q: _Query, report: DeclarationReport, statement: str, params: dict[str, Any]
) -> list[tuple[str, str]] | None:
    """The result's (column, type) pairs, or None after recording why the query fails (in a savepoint)."""
    try:
        with conn.begin_nested():
            result = conn.execute(sa.text(statement), params)
            oids = [int(d[1]) for d in result.cursor.description]  # type: ignore[call-overload]  # the oid
            names = [str(d[0]) for d in result.cursor.description]
            result.close()
    except sa.exc.DBAPIError as exc:
        problem = explain_query_error(
            exc, what=q.what, key=q.key, relative_path=q.relative, statement=statement, query=q.query, file_text=q.text
        )
        if problem is None:  # not the query's doing (a lost connection, a timeout): not a declaration problem
            raise
        report.problems.append(Problem(f"{uc.path}: {problem.line()}", source=True))
        return None
    unknown = sorted({oid for oid in oids if oid not in TYPE_NAMES})
    named = dict(TYPE_NAMES)
    if unknown:
        rows = conn.execute(sa.text(load_sql("db/type_names.sql")), {"oids": unknown})
        named.update({int(r.oid): str(r.name) for r in rows})
    return [(name, named.get(oid, f"oid {oid}")) for name, oid in zip(names, oids, strict=True)]


def _wrapped(marker_sql: str, query: str) -> str:
    return load_sql(marker_sql).replace("/* query */", query)


def _query(uc: UseCase, kind: str, what: str, key: str, relative: str, report: DeclarationReport) -> _Query | None:
    try:
        return _Query(what, key, relative, uc.query(kind), strip_trailing_semicolon(uc.query(kind)))  # type: ignore[arg-type]
    except ConfigError as exc:
        report.problems.append(Problem(f"{uc.path}: '{key}' ({shown(relative, 'sql')}): {exc}"))
        return None


def _check_queries(conn: Connection, uc: UseCase, report: DeclarationReport) -> set[str] | None:
    """Probe the batch, feature, labels and freshness queries; returns the feature query's columns when known."""
    day = report.probe_date
    window = {"date_from": day, "date_to": day}
    batch = _query(uc, "batch", "batch query", "sql.batch", uc.sql.batch, report)
    features = None
    if batch is not None:
        shape = _probe(conn, uc, batch, report, _wrapped("db/declaration_probe.sql", batch.query), window)
        if shape is not None:
            _compare_batch(uc, shape, report)
            features = _check_features(conn, uc, report, window)
    labels = _query(uc, "labels", "labels query", "sql.labels", uc.sql.labels, report)
    if labels is not None:
        shape = _probe(conn, uc, labels, report, _wrapped("db/declaration_probe.sql", labels.query), window)
        if shape is not None:
            _check_labels(conn, uc, labels, dict(shape), report, window)
    if uc.validation.freshness is not None:
        fresh = _query(uc, "freshness", "freshness query", "validation.freshness", uc.validation.freshness, report)
        if fresh is not None:
            statement = _wrapped("db/declaration_probe.sql", fresh.query)
            shape = _probe(conn, uc, fresh, report, statement, {"score_date": day})
            if shape is not None and dict(shape).get("fresh_through") not in TIME_TYPES:
                got = dict(shape).get("fresh_through")
                report.problems.append(
                    Problem(
                        f"{uc.path}: the freshness query ({shown(fresh.relative, 'sql')}, key 'validation.freshness') "
                        f"must return one column fresh_through of type date or timestamp, "
                        + (f"it returns {got}" if got else f"it returns {', '.join(n for n, _ in shape) or 'none'}")
                    )
                )
    return features


def _compare_batch(uc: UseCase, shape: list[tuple[str, str]], report: DeclarationReport) -> None:
    where = f"the batch query ({shown(uc.sql.batch, 'sql')})"
    returned = dict(shape)
    seen: set[str] = set()
    for name, _ in shape:
        if name in seen:
            report.problems.append(Problem(f"{uc.path}: {where} returns column {name} twice"))
        seen.add(name)
    for column, declared in uc.batch.columns.items():
        actual = returned.get(column)
        if actual is None:
            report.problems.append(
                Problem(f"{uc.path}: 'batch.columns.{column}' is declared, but {where} does not return it", True)
            )
        elif not _same_type(declared, actual):
            fix = f"declare {actual} or cast it" if actual in NUMERIC_TYPES | TEXT_TYPES | TIME_TYPES else "cast it"
            report.problems.append(
                Problem(
                    f"{uc.path}: 'batch.columns.{column}' is declared {declared}, {where} returns {actual} "
                    f"({fix} in the query, e.g. {column}::{declared})",
                    True,
                )
            )
    for column, actual in shape:
        if column not in uc.batch.columns:
            report.problems.append(
                Problem(f"{uc.path}: {where} returns {column} ({actual}), which 'batch.columns' does not declare", True)
            )
    report.facts["batch_columns"] = len(shape)


def _same_type(declared: str, actual: str) -> bool:
    if declared in TEXT_TYPES:
        return actual in TEXT_TYPES
    return declared == actual


def _check_features(
    conn: Connection, uc: UseCase, report: DeclarationReport, window: dict[str, Any]
) -> set[str] | None:
    q = _query(uc, "features", "feature query", "sql.features", uc.sql.features, report)
    if q is None:
        return None
    limited = _wrapped("db/declaration_probe.sql", batch_query(uc))
    composed = features_query(uc, f"(\n{limited}\n)")
    shape = _probe(conn, uc, q, report, _wrapped("db/declaration_probe.sql", composed), window)
    if shape is None:
        return None
    returned = dict(shape)
    where = f"the feature query ({shown(uc.sql.features, 'sql')})"
    for key in ("entity_id", "score_date"):
        if key not in returned:
            report.problems.append(
                Problem(f"{uc.path}: {where} must return {key} (scoring and training key on it, 'sql.features')")
            )
    kinds = {
        "features.categorical": (uc.features.categorical, TEXT_TYPES | INTEGER_TYPES | {"boolean"}, "text or integer"),
        "features.numeric": (uc.features.numeric, NUMERIC_TYPES | {"boolean"}, "a numeric type"),
    }
    for key, (names, allowed, wanted) in kinds.items():
        for name in names:
            actual = returned.get(name)
            if actual is None:
                report.problems.append(Problem(f"{uc.path}: '{key}' names {name}, which {where} does not return"))
            elif actual not in allowed:
                report.problems.append(
                    Problem(
                        f"{uc.path}: '{key}' names {name}, which {where} returns as {actual}; it needs {wanted}", True
                    )
                )
    return set(returned)


def _check_labels(
    conn: Connection, uc: UseCase, q: _Query, returned: dict[str, str], report: DeclarationReport, window: dict
) -> None:
    where = f"the labels query ({shown(uc.sql.labels, 'sql')}, key 'sql.labels')"
    missing = [c for c in ("entity_id", "score_date", "label", "label_known_at") if c not in returned]
    if missing:
        report.problems.append(
            Problem(
                f"{uc.path}: {where} must return entity_id, score_date, label, label_known_at; missing: "
                + ", ".join(missing)
            )
        )
    if returned.get("score_date", "date") != "date":
        report.problems.append(Problem(f"{uc.path}: {where} returns score_date as {returned['score_date']}, not date"))
    if returned.get("label_known_at", "timestamptz") not in TIME_TYPES:
        report.problems.append(
            Problem(f"{uc.path}: {where} returns label_known_at as {returned['label_known_at']}, not a timestamp")
        )
    declared_id = uc.batch.columns["entity_id"]
    if "entity_id" in returned and not _same_type(declared_id, returned["entity_id"]):
        report.problems.append(
            Problem(f"{uc.path}: {where} returns entity_id as {returned['entity_id']}, the batch's is {declared_id}")
        )
    if "label" not in returned:
        return
    kind, actual = uc.target.kind, returned["label"]
    wanted, allowed = LABEL_TYPES[kind]
    if actual not in allowed:
        report.problems.append(
            Problem(f"{uc.path}: 'target.kind' is {kind}, which needs a label of {wanted}; {where} returns {actual}")
        )
    elif kind == "binary" and actual in INTEGER_TYPES:
        sample = conn.execute(sa.text(_wrapped("db/label_sample.sql", q.query)), window).scalars().all()
        odd = sorted(v for v in sample if v not in (0, 1))
        if odd:
            report.problems.append(
                Problem(
                    f"{uc.path}: 'target.kind' is binary, which needs a boolean or 0/1 label; {where} returns "
                    f"{', '.join(map(str, odd[:5]))} on {window['date_from']}",
                    True,
                )
            )


# --- the suites -----------------------------------------------------------------------------------------------------


def _check_suites(uc: UseCase, report: DeclarationReport, features: set[str] | None, *, gx: bool) -> None:
    training_columns = (features or {"entity_id", "score_date", *uc.feature_columns}) | {"label"}
    files = [
        ("validation.suite", uc.validation.suite, set(uc.batch.columns), "the batch"),
        ("validation.training_suite", uc.validation.training_suite, training_columns, "the training set"),
    ]
    count = 0
    for key, suite, columns, dataset in files:
        if suite is None:
            continue
        path = expectations_dir() / suite
        lines = suite_file_problems(path, key, uc.path, columns, dataset)
        report.problems += [Problem(line) for line in lines]
        if gx and not lines:
            from pipeline.validation.gx_runner import import_gx

            report.problems += [Problem(line) for line in gx_problems(import_gx(), path, key, uc.path)]
        report.facts["suites"] = report.facts.get("suites", 0) + 1
        count += len(_expectations(path))
    report.facts.update(expectations=count, gx=gx)


def _expectations(path: Path) -> list[Any]:
    return list(read_suite_file(path)["expectations"])
