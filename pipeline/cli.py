"""The ``batchscore`` command line: every stage and the demo, with or without Airflow."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import time
import uuid
from typing import Any

log = logging.getLogger("batchscore")

QUIET_LOGGERS = ("sqlalchemy", "pgserver", "great_expectations", "airflow", "alembic", "py.warnings")


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _engine() -> Any:
    from pipeline.db.engine import get_engine
    from pipeline.db.migrations import migrate

    engine = get_engine()
    migrate(engine)
    return engine


def cmd_db(args: argparse.Namespace) -> int:
    from pipeline.db.engine import database_url, get_engine, redact, stop_embedded
    from pipeline.db.migrations import migrate

    if args.action == "url":
        url = database_url()
        if args.libpq:  # the form psql, libpq and most BI tools take (no SQLAlchemy driver name)
            url = url.set(drivername="postgresql")
        print(url.render_as_string(hide_password=False) if args.show_password else redact(url))
    elif args.action == "migrate":
        from pipeline.config.loading import load_usecase
        from pipeline.monitoring.bi_views import ensure_bi_views

        engine = get_engine()
        applied = migrate(engine, refresh=True)
        print("applied: " + ", ".join(applied) if applied else "schema up to date")
        print("BI views: " + ", ".join(ensure_bi_views(engine, load_usecase(args.usecase), refresh=True)))
    elif args.action == "vacuum-staging":
        from pipeline.config.settings import load_settings
        from pipeline.db.staging import vacuum_staging

        hours = args.older_than if args.older_than is not None else load_settings().staging_max_age_hours
        dropped = vacuum_staging(_engine(), dt.timedelta(hours=hours), unregistered=True)
        print(
            f"dropped {len(dropped)} staging tables of runs started over {hours:g} h ago or never registered"
            + (f": {', '.join(dropped)}" if dropped else "")
        )
    elif args.action == "stop":
        print("embedded PostgreSQL stopped" if stop_embedded() else "embedded PostgreSQL was not running")
    else:  # status
        from pipeline.db.bi import BI_ROLE
        from pipeline.db.engine import embedded_tcp_url

        url = database_url()
        print(f"database: {redact(url)}")
        tcp = embedded_tcp_url(BI_ROLE)
        if tcp is not None:
            print(f"BI tools over TCP: {tcp.render_as_string()} (password: BATCHSCORE_BI_PASSWORD)")
    return 0


def cmd_load_source(args: argparse.Namespace) -> int:
    from pipeline.demo.nycflights13 import load_source

    counts = load_source(_engine(), force=args.force, show_progress=None)
    if counts:
        print("loaded " + ", ".join(f"source.{t}: {n:,}" for t, n in counts.items()))
    else:
        print("source data already loaded (use --force to reload)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from pipeline import tasks
    from pipeline.config.loading import load_usecase
    from pipeline.model.train import train_and_register

    uc = load_usecase(args.usecase)
    tasks.check_usecase(uc.ref)  # every declaration problem at once, before any training
    mv = train_and_register(_engine(), uc, created_by="cli", show_progress=None)
    print(mv.describe())
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from pipeline import tasks

    _engine()
    result = tasks.check_usecase(args.usecase, refuse=False)
    print("\n".join(tasks.check_lines(result)))
    return 1 if result["problems"] else 0


def cmd_score(args: argparse.Namespace) -> int:
    from pipeline import tasks
    from pipeline.config.loading import load_usecase

    day = tasks.check_score_date(load_usecase(args.usecase), args.date, "--date")  # before any database work
    _engine()
    run_id = args.run_id or f"cli__{day.isoformat()}__{uuid.uuid4().hex[:8]}"
    result = tasks.run_night(day.isoformat(), run_id, args.usecase, shards=args.shards)
    print(json.dumps(result))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.orchestration import local as airflow_local

    dag_id, day, conf = airflow_local.run_request(args.dag_id, args.usecase, args.date, args.conf)
    _engine()
    outcome = airflow_local.run_dag(dag_id, day, conf)
    print(outcome.summary())
    return 0 if outcome.succeeded else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.demo.run import run_demo

    return run_demo(nights=args.nights, usecase=args.usecase)


def cmd_retrain(args: argparse.Namespace) -> int:
    from pipeline import tasks
    from pipeline.config.loading import load_usecase

    day = tasks.check_score_date(load_usecase(args.usecase), args.cutoff, "--cutoff")
    _engine()
    run_id = f"cli_retrain__{day.isoformat()}__{uuid.uuid4().hex[:8]}"
    print(
        tasks.run_retrain(
            day.isoformat(), run_id, dry_run=args.dry_run, force=args.force, actor="cli", usecase=args.usecase
        )
    )
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    from pipeline import tasks
    from pipeline.config.loading import load_usecase
    from pipeline.model.registry import list_versions

    engine = _engine()
    uc = load_usecase(args.usecase)
    if args.action == "list":
        key = uc.promotion.primary_metric(uc.target.kind).removeprefix("neg_")
        for v in list_versions(engine, uc.name):
            value = v["holdout_metrics"].get(key)
            print(
                f"{v['version']:<6} {v['status']:<10} trained {v['train_from']}..{v['train_to']} "
                f"({v['train_rows']:,} rows)  holdout {key} {'n/a' if value is None else format(value, '.4f')}  "
                f"sha256 {v['artifact_sha256'][:12]}  created {v['created_at']:%Y-%m-%d %H:%M} by {v['created_by']}"
            )
        return 0
    if args.action == "register":  # only a file you trust: loading it runs its code
        flags = {k: getattr(args, k) for k in ("promote", "reason", "allow_version_mismatch")}
        print(tasks.register_model(args.artifact or "", usecase=uc.ref, **flags)["summary"])
        return 0
    for day in args.rescore:
        tasks.check_score_date(uc, day, "--rescore")
    outcome = tasks.rollback(
        args.to,
        reason=args.reason,
        actor="rollback",
        rescore_dates=args.rescore,
        usecase=args.usecase,
        force=args.force,
    )
    print(
        f"{uc.name}: champion is now {outcome['champion']} (was {outcome['previous']})"
        + (f"; re-scored {', '.join(outcome['rescored'])}" if outcome["rescored"] else "")
    )
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from pipeline.validation.gx_runner import data_docs_dir

    index = data_docs_dir() / "index.html"
    if not index.exists():
        print(f"no Data Docs yet at {index}: they are written by every validation (run a scoring first)")
        return 1
    print(index)
    if args.open:
        import webbrowser

        webbrowser.open(index.as_uri())
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from pipeline.config.loading import load_usecase
    from pipeline.model.reference import rebuild_reference
    from pipeline.monitoring.monitor import monitor_date
    from pipeline.scoring.dates import parse_date

    engine, uc = _engine(), load_usecase(args.usecase)
    if args.reference:
        built = rebuild_reference(engine, uc, args.reference)
        print(
            f"{uc.name} {built['version']}: drift reference built from {built['training_rows']:,} training and "
            f"{built['holdout_rows']:,} holdout rows"
        )
    if args.date:
        result = monitor_date(engine, uc, parse_date(args.date, what="--date"))
        print(
            f"{uc.name} {result['score_date']} (run {result['run_id']}, model {result['model_version']}): "
            f"drifted: {', '.join(result['drifted_features']) or 'none'}; score PSI {result['score_psi']}; "
            f"performance recomputed for {result['performance_updated']}; new alerts: {result['alerts_total']}"
        )
        for alert in result["new_alerts"]:
            print(f"  [{alert['kind']}] {alert['message']}")
    if not (args.date or args.reference):
        print("nothing to do: give --date (monitor a published date) and/or --reference VERSION", file=sys.stderr)
        return 2
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pipeline.config.loading import load_usecase
    from pipeline.monitoring.bi_views import ensure_bi_views
    from pipeline.monitoring.report.render import write_report
    from pipeline.scoring.dates import parse_date

    engine, uc = _engine(), load_usecase(args.usecase)
    ensure_bi_views(engine, uc)  # the nightly monitor keeps them current; a hand-run report may come first
    path = write_report(
        engine,
        uc,
        date_from=parse_date(args.date_from, what="--from") if args.date_from else None,
        date_to=parse_date(args.date_to, what="--to") if args.date_to else None,
        output=Path(args.output) if args.output else None,
    )
    print(path)
    return 0


def cmd_airflow(args: argparse.Namespace) -> int:
    from pipeline.config.settings import load_settings
    from pipeline.orchestration import local as airflow_local

    _engine()
    return airflow_local.standalone(port=args.port or load_settings().airflow_port)


def _shard_count(value: str) -> int:
    from pipeline.scoring.shards import ShardError, check_count

    try:
        return check_count(value, source="--shards")
    except ShardError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batchscore", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("db", help="the database in use")
    p.add_argument("action", choices=["url", "status", "migrate", "stop", "vacuum-staging"])
    p.add_argument("--show-password", action="store_true", help="print the URL with its password")
    p.add_argument(
        "--older-than",
        type=float,
        metavar="HOURS",
        help="vacuum-staging: runs started this long ago (default BATCHSCORE_STAGING_MAX_AGE_HOURS)",
    )
    p.add_argument("--libpq", action="store_true", help="url: the libpq form psql and BI tools take (postgresql://)")
    p.add_argument("--usecase", help="migrate: the use case whose BI views to refresh (default: BATCHSCORE_USECASE)")
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("load-source", help="load the nycflights13 demo data into schema source")
    p.add_argument("--force", action="store_true", help="reload even when already loaded")
    p.set_defaults(func=cmd_load_source)

    p = sub.add_parser("train", help="fit, evaluate and register a model (the first becomes champion)")
    p.add_argument("--usecase", help="use case name or TOML path (default: BATCHSCORE_USECASE)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("check", help="check a use case's declaration in seconds (no training); exit 1 on any problem")
    p.add_argument("--usecase", help="use case name or TOML path (default: BATCHSCORE_USECASE)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("score", help="score one date without Airflow (extract..publish in this process)")
    p.add_argument("--date", required=True, help="score date YYYY-MM-DD")
    p.add_argument("--run-id", help="run id (default: a new one)")
    p.add_argument("--usecase", help="use case name or TOML path")
    p.add_argument(
        "--shards",
        type=_shard_count,
        metavar="N",
        help="split the batch into N shards, scored one after another here "
        "(default: BATCHSCORE_SHARDS, else the use case's [scoring] shards, else 1)",
    )
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("run", help="one DAG run through Airflow (dag.test); exit 1 when it fails")
    p.add_argument("dag_id", help="<use case>__score|__retrain|__rollback, or the kind alone with --usecase")
    p.add_argument("--date", help="YYYY-MM-DD: a scoring DAG's score date, a retraining DAG's cut-off")
    p.add_argument("--conf", help="JSON object of DAG params (a key the DAG does not declare is refused)")
    p.add_argument("--usecase", help="use case name, when DAG_ID is a kind (default: BATCHSCORE_USECASE)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="the whole story on the embedded database: load, train, score 7 nights")
    p.add_argument("--nights", type=int, help="how many nights to score (default: from the use case)")
    p.add_argument("--usecase", help="a use case with a [demo] section (default: BATCHSCORE_USECASE)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("retrain", help="one retraining with champion/challenger decision, without Airflow")
    p.add_argument("--cutoff", required=True, help="cut-off date YYYY-MM-DD (only labels known then)")
    p.add_argument("--dry-run", action="store_true", help="decide and record, change nothing")
    p.add_argument("--force", action="store_true", help="promote without a significant gain (guardrails apply)")
    p.add_argument("--usecase", help="use case name or TOML path")
    p.set_defaults(func=cmd_retrain)

    p = sub.add_parser("model", help="the model registry: list versions, roll back, register a model file")
    p.add_argument("action", choices=["list", "rollback", "register"])
    p.add_argument("--artifact", metavar="PATH.joblib", help="register: a fitted model (only a file you trust)")
    p.add_argument("--promote", action="store_true", help="register: make it champion by hand (needs --reason)")
    p.add_argument("--allow-version-mismatch", action="store_true", help="register: from another scikit-learn")
    p.add_argument("--to", help="rollback: the version to restore (default: the last former champion)")
    p.add_argument("--rescore", nargs="*", default=[], metavar="DATE", help="rollback: dates to re-score")
    p.add_argument("--reason", help="rollback, register --promote: why (recorded in promotion_decisions)")
    p.add_argument(
        "--force",
        action="store_true",
        help="rollback: restore a version that never was champion (needs --reason; logged as forced)",
    )
    p.add_argument("--usecase", help="use case name or TOML path")
    p.set_defaults(func=cmd_model)

    p = sub.add_parser("docs", help="where the validation Data Docs are (index.html)")
    p.add_argument("--open", action="store_true", help="open them in a browser")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("monitor", help="drift, performance with the labels known now, alerts, for a published date")
    p.add_argument("--date", help="a published score date YYYY-MM-DD")
    p.add_argument("--reference", metavar="VERSION", help="build the drift reference of a version trained without one")
    p.add_argument("--usecase", help="use case name or TOML path")
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser("report", help="write the HTML report (plots embedded) and print its path")
    p.add_argument("--from", dest="date_from", help="first score date YYYY-MM-DD (default: 30 days before --to)")
    p.add_argument("--to", dest="date_to", help="last score date YYYY-MM-DD (default: the latest published)")
    p.add_argument("--output", help="file to write (default: $BATCHSCORE_HOME/reports/<use case>.html)")
    p.add_argument("--usecase", help="use case name or TOML path")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("airflow", help="Airflow standalone (UI + scheduler) on the same database")
    p.add_argument("--port", type=int, help="port of the UI (default: BATCHSCORE_AIRFLOW_PORT, else 8080)")
    p.set_defaults(func=cmd_airflow)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``batchscore`` console script."""
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    if args.func in (cmd_run, cmd_demo) and not args.verbose:
        # runs in this process (dag.test): a failed task's traceback is Airflow's log, the command prints the one
        # line that matters (`batchscore airflow` keeps its servers' own logging)
        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "CRITICAL")
    started = time.perf_counter()
    try:
        code = int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line for the user; the traceback with --verbose
        if args.verbose:
            log.exception("failed")
        print(f"batchscore {args.command}: {exc}", file=sys.stderr)
        return 1
    log.info("%s finished in %.1fs", args.command, time.perf_counter() - started)
    return code


if __name__ == "__main__":
    sys.exit(main())
