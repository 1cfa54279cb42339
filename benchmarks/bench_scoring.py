"""Throughput benchmark of one scoring run (issue 6): the naive path, the raw limits, and ours.

    python benchmarks/bench_scoring.py [--rows 1000000] [--chunk-rows N]     (make bench)

Workload W1 (the use case ``bench_w1``): N rows of 16 floats (about 1% null), 2 categoricals (5 and 20 levels),
an entity id and a date, generated in Postgres once and reused; a HistGradientBoosting pipeline (100 iterations)
trained once on labelled history and registered as the workload's champion. Each path runs in a subprocess of
its own so that its peak RSS is its own; seconds are measured in-process, after imports:

(a) naive: ``pd.read_sql`` -> ``predict_proba`` -> ``DataFrame.to_sql`` (skipped above --naive-max-rows);
(b) raw limits: COPY the batch out (binary, discarded), ``predict_proba`` on in-memory 100k-row chunks, COPY
    precomputed predictions in; their sum is the floor a pipeline that does all three in turn could reach;
(c) ours: extract, validate, build_features, score, publish, exactly as a scoring DAG (<use case>__score) runs them.

Prints a table and writes benchmarks/results/latest.json. Not part of `make test`: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCORE_DATE = dt.date(2020, 1, 1)
HISTORY_DAYS = 20
HISTORY_ROWS_PER_DAY = 10_000
USE_CASE = "bench_w1"


def _peak_rss_mb() -> float:
    """This process's peak resident set size in MB.

    Linux's ``ru_maxrss`` carries the parent's peak into a forked-and-exec'd child (a child of a parent that had
    just trained the model reported the parent's 596 MB before importing anything), so read the memory map's own
    high-water mark, ``VmHWM``, where there is one.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


# ------------------------------------------------------------------------------------------- set-up (parent)


def prepare_workload(rows: int) -> None:
    """Generate W1 for ``rows`` rows (reused when already there) and make sure a champion exists."""
    import sqlalchemy as sa

    from pipeline.config.loading import load_usecase
    from pipeline.db.engine import get_engine, run_script
    from pipeline.db.migrations import migrate
    from pipeline.db.sql import read_sql
    from pipeline.model.artifacts import ModelError
    from pipeline.model.registry import get_champion
    from pipeline.model.train import train_and_register

    engine = get_engine()
    migrate(engine)
    with engine.connect() as conn:
        exists = conn.execute(sa.text("select to_regclass('bench.w1') is not null")).scalar()
        current = (
            conn.execute(sa.text("select count(*) from bench.w1 where score_date = :d"), {"d": SCORE_DATE}).scalar()
            if exists
            else 0
        )
    if current != rows:
        print(
            f"generating W1: {rows:,} rows to score + {HISTORY_DAYS * HISTORY_ROWS_PER_DAY:,} labelled rows ...",
            flush=True,
        )
        started = time.perf_counter()
        with engine.begin() as conn:
            run_script(conn, read_sql("benchmarks/w1_generate.sql"))
            conn.execute(sa.text("select setseed(0.42)"))
            fill = sa.text(read_sql("benchmarks/w1_fill.sql"))
            for day in range(HISTORY_DAYS):
                conn.execute(
                    fill,
                    {
                        "score_date": dt.date(2019, 12, 1) + dt.timedelta(days=day),
                        "first": 10_000_000 + day * HISTORY_ROWS_PER_DAY,
                        "n": HISTORY_ROWS_PER_DAY,
                    },
                )
            conn.execute(fill, {"score_date": SCORE_DATE, "first": 1, "n": rows})
            run_script(conn, read_sql("benchmarks/w1_label.sql"))
        print(f"  generated in {time.perf_counter() - started:.0f}s", flush=True)
    uc = load_usecase(USE_CASE)
    try:
        get_champion(engine, uc.name)
    except ModelError:
        print("training the W1 model once (HistGradientBoosting, 100 iterations) ...", flush=True)
        train_and_register(engine, uc, created_by="benchmark")


# --------------------------------------------------------------------------------------- the paths (children)


def path_naive(rows: int, chunk_rows: int) -> dict:
    import pandas as pd
    import sqlalchemy as sa

    from pipeline.config.loading import load_usecase
    from pipeline.db.engine import get_engine
    from pipeline.model.artifacts import load_artifact
    from pipeline.model.predict import model_frame
    from pipeline.model.registry import get_champion

    engine, uc = get_engine(), load_usecase(USE_CASE)
    model = load_artifact(get_champion(engine, uc.name))
    started = time.perf_counter()
    with engine.connect() as conn:
        frame = pd.read_sql(sa.text("select * from bench.w1 where score_date = :d"), conn, params={"d": SCORE_DATE})
    read = time.perf_counter()
    score = model.predict_proba(model_frame(frame, uc))[:, 1]
    predicted = time.perf_counter()
    out = pd.DataFrame(
        {
            "score_date": SCORE_DATE,
            "entity_id": frame["entity_id"].astype(str),
            "score": score,
            "predicted_label": score >= uc.target.threshold,
        }
    )
    out.to_sql("naive_predictions", engine, schema="bench", if_exists="replace", index=False)
    done = time.perf_counter()
    return {
        "seconds": done - started,
        "read_s": read - started,
        "predict_s": predicted - read,
        "write_s": done - predicted,
        "rows": len(out),
    }


def parse_copy_chunk(rows: list[bytes], columns: list[str], uc: Any) -> Any:
    """Rows of ``COPY ... TO STDOUT (FORMAT csv, NULL '\\N')`` as a typed frame (the raw-limits path builds the
    model's frames with it before its clock starts)."""
    import pandas as pd

    dtypes: dict[str, Any] = {c: "float64" for c in uc.features.numeric}
    dtypes.update({c: object for c in uc.features.categorical})
    dtypes["entity_id"] = object
    return pd.read_csv(
        io.BytesIO(b"".join(rows)), header=None, names=columns, dtype=dtypes, na_values=["\\N"], keep_default_na=False
    )


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


def path_limits(rows: int, chunk_rows: int) -> dict:
    import numpy as np

    from pipeline.config.loading import load_usecase
    from pipeline.db.engine import get_engine
    from pipeline.model.artifacts import load_artifact
    from pipeline.model.predict import model_frame
    from pipeline.model.registry import get_champion

    engine, uc = get_engine(), load_usecase(USE_CASE)
    model = load_artifact(get_champion(engine, uc.name))
    columns = ["entity_id", *uc.feature_columns]
    # constants and validated column names only
    select = (
        f"select entity_id::text, {', '.join(uc.feature_columns)} from bench.w1 "  # noqa: S608
        f"where score_date = '{SCORE_DATE.isoformat()}'"
    )
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:  # 1. COPY out, binary, into nothing
            started = time.perf_counter()
            cur.copy_expert(f"copy ({select}) to stdout with (format binary)", _Discard())
            copy_out = time.perf_counter() - started
        # the batch in memory (not timed), then 2. predict on in-memory chunks
        rows_csv: list[bytes] = []

        class _Collect:
            def write(self, data: bytes) -> int:
                rows_csv.append(data)
                return len(data)

        with raw.cursor() as cur:
            cur.copy_expert(f"copy ({select}) to stdout with (format csv, null '\\N')", _Collect())
        frames = [
            model_frame(parse_copy_chunk(rows_csv[i : i + 100_000], columns, uc), uc)
            for i in range(0, len(rows_csv), 100_000)
        ]
        ids = np.concatenate(
            [
                parse_copy_chunk(rows_csv[i : i + 100_000], columns, uc)["entity_id"].to_numpy()
                for i in range(0, len(rows_csv), 100_000)
            ]
        )
        rows_csv.clear()
        started = time.perf_counter()
        scores = np.concatenate([model.predict_proba(f)[:, 1] for f in frames])
        predict = time.perf_counter() - started
        # precomputed predictions as COPY text (not timed), then 3. COPY in
        buffer = io.StringIO(
            "".join(f"{e},{float(s)!r},{'t' if s >= 0.5 else 'f'}\n" for e, s in zip(ids, scores, strict=True))
        )
        with raw.cursor() as cur:
            cur.execute(
                "drop table if exists bench.limit_predictions; create unlogged table bench.limit_predictions "
                "(entity_id text, score double precision, predicted_label boolean)"
            )
            raw.commit()
            started = time.perf_counter()
            cur.copy_expert("copy bench.limit_predictions from stdin with (format csv)", buffer)
            raw.commit()
            copy_in = time.perf_counter() - started
    finally:
        raw.close()
    return {
        "seconds": copy_out + predict + copy_in,
        "copy_out_s": copy_out,
        "predict_s": predict,
        "copy_in_s": copy_in,
        "rows": len(scores),
    }


def path_ours(rows: int, chunk_rows: int) -> dict:
    os.environ["BATCHSCORE_CHUNK_ROWS"] = str(chunk_rows)  # the production default unless --chunk-rows
    import great_expectations  # noqa: F401  (imports happen before the clock starts)

    from pipeline import tasks
    from pipeline.scoring.score import score_features  # noqa: F401
    from pipeline.validation.gx_runner import run_suite  # noqa: F401

    run_id = f"bench__{uuid.uuid4().hex[:8]}"
    peaks = {"imports": round(_peak_rss_mb())}  # the peak RSS so far after each stage: which one raised it
    started = time.perf_counter()
    batch = tasks.extract(SCORE_DATE.isoformat(), run_id, USE_CASE)
    peaks["extract"] = round(_peak_rss_mb())
    validation = tasks.validate(batch)
    peaks["validate"] = round(_peak_rss_mb())
    features = tasks.build_features(batch)
    peaks["build_features"] = round(_peak_rss_mb())
    scores = tasks.score(batch)
    shadow = tasks.shadow_score(batch)
    peaks["score"] = round(_peak_rss_mb())
    published = tasks.publish(batch, validation, features, scores, shadow)
    peaks["publish"] = round(_peak_rss_mb())
    total = time.perf_counter() - started
    return {
        "seconds": total,
        "extract_s": batch["seconds"],
        "validate_s": validation["seconds"],
        "build_features_s": features["seconds"],
        "score_s": scores["seconds"],
        "publish_s": published["seconds"],
        "rows": published["rows"],
        "validation_checks": validation["evaluated"],
        "peak_rss_after_mb": peaks,
    }


PATHS = {"naive": path_naive, "limits": path_limits, "ours": path_ours}


# ----------------------------------------------------------------------------------------------------- main


def run_child(path: str, rows: int, chunk_rows: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", path, "--rows", str(rows), "--chunk-rows", str(chunk_rows)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise RuntimeError(f"path {path} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        default=[1_000_000],
        help="batch sizes to measure, e.g. --rows 1000000 5000000 10000000",
    )
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=None,
        help="rows per scoring chunk of our path (default: BATCHSCORE_CHUNK_ROWS as the scoring DAG "
        "reads it, 50,000 unless set); the raw limits predict on 100,000-row chunks",
    )
    parser.add_argument(
        "--naive-max-rows",
        type=int,
        default=1_000_000,
        help="skip the naive path above this size (it needs ~2.2 GB per million rows)",
    )
    parser.add_argument("--child", choices=sorted(PATHS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.chunk_rows is None:
        from pipeline.config.settings import load_settings

        args.chunk_rows = load_settings().chunk_rows
    if args.child:
        result = PATHS[args.child](args.rows[0], args.chunk_rows)
        result["peak_rss_mb"] = _peak_rss_mb()
        print(json.dumps(result))
        return 0

    results = []
    for rows in args.rows:
        prepare_workload(rows)
        row: dict = {"rows": rows}
        for path in ("naive", "limits", "ours"):
            if path == "naive" and rows > args.naive_max_rows:
                continue
            print(f"{rows:,} rows: {path} ...", flush=True)
            row[path] = run_child(path, rows, args.chunk_rows)
        results.append(row)

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"chunk {args.chunk_rows:,} rows"
    )
    header = f"{'rows':>11}  {'path':<7}{'seconds':>9}{'rows/s':>11}{'peak RSS MB':>13}  detail"
    print(header + "\n" + "-" * len(header))
    for row in results:
        for path in ("naive", "limits", "ours"):
            if path not in row:
                continue
            r = row[path]
            detail = ", ".join(f"{k[:-2]} {v:.2f}s" for k, v in r.items() if k.endswith("_s"))
            print(
                f"{row['rows']:>11,}  {path:<7}{r['seconds']:>9.2f}{row['rows'] / r['seconds']:>11,.0f}"
                f"{r['peak_rss_mb']:>13,.0f}  {detail}"
            )
    summary = []
    for row in results:
        ours = row["ours"]
        entry = {
            "rows": row["rows"],
            "naive_s": round(row["naive"]["seconds"], 2) if "naive" in row else None,
            "limit_sum_s": round(row["limits"]["seconds"], 2),
            "ours_s": round(ours["seconds"], 2),
            "ours_peak_rss_mb": round(ours["peak_rss_mb"], 1),
            "validation_share": round(ours["validate_s"] / ours["seconds"], 3),
            "speedup_vs_naive": round(row["naive"]["seconds"] / ours["seconds"], 2) if "naive" in row else None,
            "ratio_vs_limit_sum": round(ours["seconds"] / row["limits"]["seconds"], 2),
            "paths": {k: v for k, v in row.items() if k != "rows"},
        }
        summary.append(entry)
        print(
            f"\n{row['rows']:,} rows: ours {entry['ours_s']}s; "
            + (f"{entry['speedup_vs_naive']}x faster than naive; " if entry["speedup_vs_naive"] else "")
            + f"{entry['ratio_vs_limit_sum']}x the sum of the raw limits; validation {entry['validation_share']:.0%}"
            f" of our run; peak RSS {entry['ours_peak_rss_mb']:.0f} MB"
        )
    out = ROOT / "benchmarks" / "results" / "latest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        **summary[0],
        "runs": summary,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "chunk_rows": args.chunk_rows,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
