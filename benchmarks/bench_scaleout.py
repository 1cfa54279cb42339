"""Scale-out benchmark (issue 6): score_daily on a real Airflow scheduler, 1 shard on one worker vs N on N.

    python benchmarks/bench_scaleout.py [--rows 1000000] [--shards 1 2] [--rounds 2]     (make bench-scaleout)

It starts its own Airflow 3 (scheduler + dag-processor + api-server, one process group, LocalExecutor,
parallelism 2) in a fresh home ``.batchscore/scaleout-airflow`` (SQLite metadata), with every worker
limited to one compute thread (OMP/OpenBLAS/MKL = 1: one worker per core). It triggers score_daily for
workload W1 (see bench_scoring.py; generated and trained once, reused) with the DAG's ``shards`` param,
waits for each run and reads the task instances' start and end times from the metadata database.
"Scoring" is the wall time from the first ``score`` task instance starting to the last one ending
(worker start-up, model load, COPY out, predict, COPY in); the table also shows each run's other tasks.

Prints a table and writes benchmarks/results/scaleout.json. Airflow is always stopped (SIGTERM to its process
group, SIGKILL after 30 s), also on Ctrl-C. The machine may be shared: the load average is recorded per run.
CPU is sampled twice a second while the runs go (/proc/stat for the whole machine, /proc/<pid>/stat of the
PostgreSQL processes): the table shows how many cores were busy on average during scoring, and how much of that was
PostgreSQL, so one can see whether one shard already keeps the machine's cores busy.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import bench_scoring  # noqa: E402  (the W1 workload and its cached model)

DAG_ID = "score_daily"
STAGES = ("extract", "validate", "build_features", "plan_shards", "score", "shadow_score", "publish")


class CpuSampler:
    """Busy CPU over time, sampled in a thread: machine-wide (/proc/stat) and PostgreSQL's processes (a backend
    that ended is counted once its postmaster has reaped it, normally at once)."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.tick = os.sysconf("SC_CLK_TCK")
        self.samples: list[tuple[float, float, float]] = []  # (unix time, machine busy s, postgres busy s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def _machine_busy(self) -> float:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return (sum(fields[:8]) - idle) / self.tick

    def _postgres_busy(self) -> float:
        """CPU seconds of every PostgreSQL process so far. A backend lives as long as its connection, so the
        CPU of backends that already ended is read from their postmaster (the children's times of the parent
        that reaped them)."""
        procs: dict[int, tuple[int, int, int]] = {}  # pid -> (ppid, own ticks, reaped children's ticks)
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    raw = f.read()
            except OSError:
                continue
            if not raw[raw.index("(") + 1 : raw.rindex(")")].startswith("postgres"):
                continue
            rest = raw[raw.rindex(")") + 2 :].split()
            procs[int(entry.name)] = (int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14]))
        own = sum(ticks for _, ticks, _ in procs.values())
        reaped = sum(children for ppid, _, children in procs.values() if ppid not in procs)  # postmasters
        return (own + reaped) / self.tick

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self._machine_busy(), self._postgres_busy()))
            self._stop.wait(self.interval)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def cores_busy(self, start: dt.datetime, end: dt.datetime) -> dict[str, float]:
        """Average busy cores between two moments (machine, PostgreSQL), from the samples around them."""
        t0, t1 = start.timestamp(), end.timestamp()
        before = [s for s in self.samples if s[0] <= t0] or self.samples[:1]
        after = [s for s in self.samples if s[0] >= t1] or self.samples[-1:]
        a, b = before[-1], after[0]
        span = b[0] - a[0]
        if span <= 0:
            return {"machine": float("nan"), "postgres": float("nan")}
        return {"machine": round((b[1] - a[1]) / span, 2), "postgres": round((b[2] - a[2]) / span, 2)}


def _ts(value: Any) -> dt.datetime:
    """A timestamp from the metadata database (SQLite hands them over as text)."""
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


def _json(value: Any) -> Any:
    while isinstance(value, (str, bytes)):
        value = json.loads(value)
    return value


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class TI(NamedTuple):
    task_id: str
    map_index: int
    state: str
    start_date: Any
    end_date: Any


class Airflow:
    """An Airflow of our own: fresh home and metadata database, one process group, always stopped."""

    def __init__(self, port: int, data_url: str) -> None:
        self.port = port
        self.home = ROOT / ".batchscore" / "scaleout-airflow"
        # SQLite metadata (Airflow's async engine would need asyncpg or psycopg 3 for PostgreSQL; neither is in
        # the lock). The metadata only sees a handful of writes per task; the data stays in batchscore's database.
        self.meta_url = f"sqlite:///{self.home / 'airflow.db'}"
        self.proc: subprocess.Popen | None = None
        self.env = dict(os.environ)
        thread_limits = {
            k: "1"
            for k in (
                "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS",
                "NUMEXPR_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS",
            )
        }
        self.env.update(thread_limits)
        self.env.update(
            {
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), self.env.get("PATH", "")]),
                "PYTHONPATH": str(ROOT),
                "AIRFLOW_HOME": str(self.home),
                # score_daily alone: the other DAGs would start their own catch-up runs (a retraining) mid-benchmark
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.home / "dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "2",
                # as the project's own Airflow runs (pipeline.airflow_local.TASK_EXIT_LATENCY_FIX); with Airflow's
                # default of 5 s the second shard often waited for the first one's slot
                "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": os.environ.get("BENCH_MIN_HEARTBEAT_INTERVAL", "1"),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.meta_url,
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
                "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("BENCH_AIRFLOW_LOG_LEVEL", "WARNING"),
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "BATCHSCORE_DATABASE_URL": data_url,
                "BATCHSCORE_USECASE": bench_scoring.USE_CASE,
            }
        )
        self.env.pop("BATCHSCORE_SHARDS", None)  # the runs choose their shard count with the DAG param

    def _airflow(self, *args: str, timeout: float = 300) -> str:
        out = subprocess.run(
            ["airflow", *args], env=self.env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
        )
        if out.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{out.stderr[-3000:]}")
        return out.stdout

    def start(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)
        self.home.mkdir(parents=True)
        (self.home / "dags").mkdir()
        shutil.copy2(ROOT / "dags" / f"{DAG_ID}.py", self.home / "dags" / f"{DAG_ID}.py")
        print("airflow db migrate ...", flush=True)
        self._airflow("db", "migrate")
        self._airflow("dags", "reserialize")
        log = (self.home / "components.log").open("ab")
        # one process group for all components (and the task processes they fork): stopped as one
        # the api-server first: a task started before it answers fails on the Execution API and waits for a retry
        health = f"http://localhost:{self.port}/api/v2/monitor/health"
        script = (
            f"airflow api-server --port {self.port} & "
            f"until python -c 'import urllib.request as u; u.urlopen(\"{health}\", timeout=2)' 2>/dev/null; "
            "do sleep 1; done; airflow dag-processor & airflow scheduler & wait"
        )
        self.proc = subprocess.Popen(
            ["bash", "-c", script],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Airflow exited; see {self.home / 'components.log'}")
            try:
                with urllib.request.urlopen(f"http://localhost:{self.port}/api/v2/monitor/health", timeout=5) as r:
                    health = json.loads(r.read())
                if health.get("scheduler", {}).get("status") == "healthy":
                    print(f"Airflow healthy on port {self.port} (pgid {self.proc.pid})", flush=True)
                    self._wait_idle(deadline)
                    return
            except OSError:
                pass
            time.sleep(2)
        raise RuntimeError(f"Airflow did not become healthy in 180 s; see {self.home / 'components.log'}")

    def _wait_idle(self, deadline: float) -> None:
        """Let the scheduled run Airflow creates on start-up (catchup=False still runs the latest interval; for
        W1 it scores a date without data and stops at validate) finish before measuring."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.meta_url, poolclass=sa.pool.NullPool)
        try:
            while time.monotonic() < deadline + 300:
                time.sleep(3)
                with engine.connect() as conn:
                    busy = conn.execute(
                        sa.text("select count(*) from dag_run where state in ('queued', 'running')")
                    ).scalar()
                if not busy:
                    return
            raise RuntimeError("Airflow's start-up runs did not finish")
        finally:
            engine.dispose()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass
        # task processes may have left the group's leader behind: make sure none of the group survives
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def run(self, shards: int, score_date: dt.date, timeout: float, cpu: CpuSampler) -> dict[str, Any]:
        """Trigger one score_daily run with ``shards`` and wait for it; the timings of its task instances."""
        import sqlalchemy as sa

        run_id = f"scaleout_{shards}sh_{uuid.uuid4().hex[:6]}"
        conf = json.dumps({"score_date": score_date.isoformat(), "shards": shards})
        load = _load()
        self._airflow("dags", "trigger", DAG_ID, "--run-id", run_id, "--conf", conf)
        engine = sa.create_engine(self.meta_url, poolclass=sa.pool.NullPool)
        try:
            deadline = time.monotonic() + timeout
            state = None
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    state = conn.execute(
                        sa.text("select state from dag_run where dag_id = :d and run_id = :r"),
                        {"d": DAG_ID, "r": run_id},
                    ).scalar()
                if state in ("success", "failed"):
                    break
                time.sleep(2)
            with engine.connect() as conn:
                tis = [
                    TI(
                        t.task_id,
                        t.map_index,
                        t.state,
                        _ts(t.start_date) if t.start_date else None,
                        _ts(t.end_date) if t.end_date else None,
                    )
                    for t in conn.execute(
                        sa.text(
                            "select task_id, map_index, state, start_date, end_date from task_instance "
                            "where dag_id = :d and run_id = :r order by start_date"
                        ),
                        {"d": DAG_ID, "r": run_id},
                    )
                ]
                xcoms = conn.execute(
                    sa.text(
                        "select map_index, value from xcom where dag_id = :d and run_id = :r and task_id = 'score' "
                        "and key = 'return_value'"
                    ),
                    {"d": DAG_ID, "r": run_id},
                ).all()
                run_row = conn.execute(
                    sa.text("select start_date, end_date from dag_run where dag_id = :d and run_id = :r"),
                    {"d": DAG_ID, "r": run_id},
                ).one()
        finally:
            engine.dispose()
        if state != "success":
            failed = [f"{t.task_id}[{t.map_index}]={t.state}" for t in tis if t.state != "success"]
            raise RuntimeError(f"run {run_id} ended {state!r} ({', '.join(failed)}); task logs in {self.home}/logs")
        score_tis = [t for t in tis if t.task_id == "score"]
        if len(score_tis) != shards:
            raise RuntimeError(f"run {run_id}: expected {shards} score task instances, found {len(score_tis)}")
        stage_s: dict[str, float] = {}
        for t in tis:
            if t.task_id != "score":
                stage_s[t.task_id] = round((t.end_date - t.start_date).total_seconds(), 2)
        in_task = {}
        for map_index, value in xcoms:
            payload = _json(value)
            in_task[int(map_index)] = payload
        first_start, last_end = min(t.start_date for t in score_tis), max(t.end_date for t in score_tis)
        scoring = (last_end - first_start).total_seconds()
        return {
            "run_id": run_id,
            "shards": shards,
            "load_before": load,
            "scoring_s": round(scoring, 2),
            "score_task_s": [round((t.end_date - t.start_date).total_seconds(), 2) for t in score_tis],
            "score_in_task_s": [in_task[i]["seconds"] for i in sorted(in_task)],
            "rows_per_shard": [in_task[i]["rows"] for i in sorted(in_task)],
            "run_s": round((_ts(run_row.end_date) - _ts(run_row.start_date)).total_seconds(), 2),
            "stages_s": stage_s,
            "cores_busy_while_scoring": cpu.cores_busy(first_start, last_end),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=2, help="repeat the shard counts this often (interleaved)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_AIRFLOW_PORT", "8081")))
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for one run")
    args = parser.parse_args()

    from pipeline.db.engine import database_url

    bench_scoring.prepare_workload(args.rows)
    data_url = database_url().render_as_string(hide_password=False)
    airflow = Airflow(args.port, data_url)

    def _terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    runs: list[dict[str, Any]] = []
    try:
        airflow.start()
        with CpuSampler() as cpu:
            for round_no in range(1, args.rounds + 1):
                for shards in args.shards:
                    print(f"round {round_no}: {shards} shard(s), load {_load()} ...", flush=True)
                    result = airflow.run(shards, bench_scoring.SCORE_DATE, args.timeout, cpu)
                    result["round"] = round_no
                    runs.append(result)
                    busy = result["cores_busy_while_scoring"]
                    print(
                        f"  scoring {result['scoring_s']:.1f}s (tasks {result['score_task_s']}, in-task "
                        f"{result['score_in_task_s']}), run {result['run_s']:.1f}s; cores busy while scoring "
                        f"{busy['machine']:.2f} (PostgreSQL {busy['postgres']:.2f})",
                        flush=True,
                    )
    finally:
        print("stopping Airflow ...", flush=True)
        airflow.stop()

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"LocalExecutor, parallelism 2, one compute thread per worker; {args.rows:,} rows (W1)"
    )
    header = (
        f"{'round':>5} {'shards':>6} {'scoring s':>10} {'rows/s':>9} {'score tasks s':>16} {'in-task s':>14} "
        f"{'run s':>7} {'cores busy':>11} {'of them PG':>11}  load before"
    )
    print(header + "\n" + "-" * len(header))
    for r in runs:
        print(
            f"{r['round']:>5} {r['shards']:>6} {r['scoring_s']:>10.2f} {args.rows / r['scoring_s']:>9,.0f} "
            f"{'/'.join(f'{s:.1f}' for s in r['score_task_s']):>16} "
            f"{'/'.join(f'{s:.1f}' for s in r['score_in_task_s']):>14} {r['run_s']:>7.1f} "
            f"{r['cores_busy_while_scoring']['machine']:>11.2f} {r['cores_busy_while_scoring']['postgres']:>11.2f}"
            f"  {r['load_before']}"
        )
    summary: dict[str, Any] = {}
    base = [r["scoring_s"] for r in runs if r["shards"] == min(args.shards)]
    for n in args.shards:
        mine = [r["scoring_s"] for r in runs if r["shards"] == n]
        summary[str(n)] = {"scoring_s": mine, "best_s": min(mine), "median_s": sorted(mine)[len(mine) // 2]}
    speedups = {}
    for n in args.shards:
        if n != min(args.shards):
            pairs = [b / s for b, s in zip(base, summary[str(n)]["scoring_s"], strict=False)]
            speedups[str(n)] = {
                "per_round": [round(p, 2) for p in pairs],
                "best_vs_best": round(min(base) / summary[str(n)]["best_s"], 2),
            }
            print(
                f"\n{n} shards vs {min(args.shards)}: scoring speed-up per round "
                f"{', '.join(f'{p:.2f}x' for p in pairs)}; best vs best {speedups[str(n)]['best_vs_best']:.2f}x "
                "(target >= 1.6x for 2 vs 1)"
            )
    out = ROOT / "benchmarks" / "results" / "scaleout.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "rows": args.rows,
                "shards": args.shards,
                "runs": runs,
                "summary": summary,
                "speedup": speedups,
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "airflow": {"executor": "LocalExecutor", "parallelism": 2, "threads_per_worker": 1},
                "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
