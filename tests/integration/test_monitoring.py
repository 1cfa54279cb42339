"""Monitoring on real Postgres: drift of staged batches, performance with late labels, the BI role's
privileges, and the HTML report."""

import base64
import datetime as dt
import io
import re
import shutil
import subprocess
import uuid

import numpy as np
import pytest
import sqlalchemy as sa

from pipeline import tasks
from pipeline.config.loading import load_usecase, with_overrides
from pipeline.db.bi import BI_ROLE
from pipeline.db.queries import batch_query, features_query
from pipeline.db.schema import STAGING_SCHEMA
from pipeline.monitoring.bi_views import ensure_bi_views
from pipeline.monitoring.drift_store import measure_feature_drift
from pipeline.monitoring.performance import compute_performance, update_performance
from pipeline.monitoring.report.render import write_report

pytestmark = pytest.mark.integration


def stage_training_sample(engine, uc, rows: int) -> str:
    """A staged features table sampled from the champion's own training window (a batch 'like training')."""
    table = f'"{STAGING_SCHEMA}"."sample_{uuid.uuid4().hex[:8]}"'
    features = features_query(uc, f"(\n{batch_query(uc)}\n)")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"create unlogged table {table} as select * from ({features}) as f "
                "order by md5(entity_id || score_date::text) limit :n"
            ),
            {"date_from": uc.training.train_from, "date_to": uc.training.train_to, "n": rows},
        )
    return table


def drift_rows(engine, run_id):
    with engine.connect() as conn:
        return {
            (r.feature, r.metric): r
            for r in conn.execute(sa.text("select * from batchscore.drift_metrics where run_id = :r"), {"r": run_id})
        }


@pytest.fixture
def sample(source, champion, usecase):
    tables = []

    def make(rows):
        tables.append(stage_training_sample(source, usecase, rows))
        return tables[-1]

    yield make
    with source.begin() as conn:
        for table in tables:
            conn.execute(sa.text(f"drop table if exists {table}"))
        conn.execute(sa.text("delete from batchscore.drift_metrics where run_id like 'drift-test-%'"))


def test_a_shifted_feature_drifts_and_the_unchanged_ones_do_not(source, champion, usecase, sample):
    day = dt.date(2013, 5, 20)
    unchanged, shifted = sample(3000), sample(3000)
    with source.begin() as conn:
        conn.execute(sa.text(f"update {shifted} set distance = distance * 3 + 500"))
    measure_feature_drift(source, usecase, day, "drift-test-same", unchanged, champion.version, 3000)
    summary = measure_feature_drift(source, usecase, day, "drift-test-shift", shifted, champion.version, 3000)
    same, moved = drift_rows(source, "drift-test-same"), drift_rows(source, "drift-test-shift")
    assert moved[("distance", "psi")].status == "drift" and moved[("distance", "psi")].value > 1.0
    assert same[("distance", "psi")].status == "ok" and same[("distance", "psi")].value < 0.1
    assert summary["drifted"] == ["distance:psi"]
    assert {k for k, r in same.items() if r.status == "drift"} == set()
    assert moved[("distance", "psi")].threshold == usecase.monitoring.psi_threshold
    assert moved[("distance", "psi")].sample_rows == 3000


def test_a_tiny_batch_is_measured_but_not_judged(source, champion, usecase, sample):
    tiny = sample(40)
    with source.begin() as conn:
        conn.execute(sa.text(f"update {tiny} set distance = distance * 3 + 500"))
    summary = measure_feature_drift(
        source, usecase, dt.date(2013, 5, 21), "drift-test-tiny", tiny, champion.version, 40
    )
    rows = drift_rows(source, "drift-test-tiny")
    assert {r.status for r in rows.values()} == {"insufficient"} and summary["drifted"] == []
    assert rows[("distance", "psi")].value > 1.0 and rows[("distance", "psi")].sample_rows == 40


def test_a_large_batch_is_measured_on_a_repeatable_sample(source, champion, usecase, sample):
    sampled = with_overrides(usecase, {"monitoring.sample_rows": 1000})
    shifted = sample(4000)
    with source.begin() as conn:
        conn.execute(sa.text(f"update {shifted} set distance = distance * 3 + 500"))
    day = dt.date(2013, 5, 22)
    for run in ("drift-test-sample-1", "drift-test-sample-2"):
        measure_feature_drift(source, sampled, day, run, shifted, champion.version, 4000)
    first, second = drift_rows(source, "drift-test-sample-1"), drift_rows(source, "drift-test-sample-2")
    psi = first[("distance", "psi")]
    assert 800 <= psi.sample_rows <= 1200 and psi.status == "drift"
    assert {k: (r.value, r.sample_rows) for k, r in first.items()} == {
        k: (r.value, r.sample_rows) for k, r in second.items()
    }  # the same rows both times


def labelled(engine, day):
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "select p.score, p.threshold, f.dep_time is null as label from batchscore.predictions p "
                "join source.flights f on f.carrier || f.flight::text || '-' || f.origin = p.entity_id "
                "and f.flight_date = p.score_date where p.score_date = :d"
            ),
            {"d": day},
        ).all()
    return (np.array([r.label for r in rows]), np.array([r.score for r in rows]), rows[0].threshold)


def performance_row(engine, day):
    with engine.connect() as conn:
        return conn.execute(
            sa.text("select * from batchscore.model_performance where score_date = :d and role = 'champion'"),
            {"d": day},
        ).one()


def test_late_labels_update_the_performance_of_their_date_only(source, champion):
    uc = load_usecase(None)
    days = [dt.date(2013, 8, 12), dt.date(2013, 8, 13)]
    for day in days:
        tasks.run_night(day.isoformat(), f"perf-test-{day}")
    update_performance(source, uc, days[-1])
    first, other = performance_row(source, days[0]), performance_row(source, days[1])
    labels, scores, threshold = labelled(source, days[0])
    expected = compute_performance(labels, scores, threshold)
    assert first.label_count == expected.label_count == len(labels)
    assert first.positive_count == expected.positive_count
    assert first.average_precision == pytest.approx(expected.average_precision)
    assert first.roc_auc == pytest.approx(expected.roc_auc) and first.brier == pytest.approx(expected.brier)

    with source.begin() as conn:  # five flights of the first day turn out cancelled after all
        changed = conn.execute(
            sa.text(
                "update source.flights set dep_time = null where ctid in (select ctid from source.flights "
                "where flight_date = :d and dep_time is not null order by carrier, flight, origin limit 5) "
                "returning carrier, flight, origin, sched_dep_time"
            ),
            {"d": days[0]},
        ).all()
    try:
        assert update_performance(source, uc, days[-1])[0]["score_date"] == days[0]
        late, untouched = performance_row(source, days[0]), performance_row(source, days[1])
        assert late.positive_count == first.positive_count + 5 and late.label_count == first.label_count
        assert late.labels_fingerprint != first.labels_fingerprint and late.computed_at > first.computed_at
        assert late.average_precision != pytest.approx(first.average_precision)
        assert untouched.computed_at == other.computed_at  # nothing new: not recomputed
        assert update_performance(source, uc, days[-1]) == []  # idempotent
    finally:
        with source.begin() as conn:
            for row in changed:
                conn.execute(
                    sa.text(
                        "update source.flights set dep_time = sched_dep_time where flight_date = :d and carrier = :c "
                        "and flight = :f and origin = :o and dep_time is null"
                    ),
                    {"d": days[0], "c": row.carrier, "f": row.flight, "o": row.origin},
                )


def test_the_bi_role_reads_the_views_and_cannot_touch_the_tables(source, champion, database_url, monkeypatch):
    monkeypatch.setenv("BATCHSCORE_BI_PASSWORD", "bi-reader-Pw-2741")
    uc = load_usecase(None)
    tasks.run_night("2013-08-14", "bi-test-run")
    views = ensure_bi_views(source, uc)
    assert set(views) == {"v_latest_predictions", "v_daily_summary", "v_drift", "v_model_performance", "v_promotions"}
    reader = sa.create_engine(
        database_url.set(username=BI_ROLE, password="bi-reader-Pw-2741"), poolclass=sa.pool.NullPool
    )
    try:
        with reader.connect() as conn:
            assert conn.execute(sa.text("select current_user")).scalar_one() == BI_ROLE
            for view in views:
                conn.execute(sa.text(f"select * from batchscore.{view} limit 1")).all()
            assert (
                conn.execute(
                    sa.text("select count(*) from batchscore.v_daily_summary where score_date = '2013-08-14'")
                ).scalar_one()
                == 1
            )
        forbidden = [
            "select * from batchscore.predictions limit 1",
            "select * from batchscore.scoring_runs limit 1",
            "select * from batchscore.model_versions limit 1",
            "select * from source.flights limit 1",
            "insert into batchscore.predictions select * from batchscore.predictions limit 1",
            "delete from batchscore.scoring_runs",
            "update batchscore.alerts set message = 'x'",
            "create table batchscore.bi_scratch (x int)",
            "create or replace view batchscore.v_drift as select 1 as x",
        ]
        for statement in forbidden:
            denied = pytest.raises(sa.exc.ProgrammingError, match=r"permission denied|must be owner")
            with reader.connect() as conn, denied:
                conn.execute(sa.text(statement))
    finally:
        reader.dispose()


def embedded_images(document: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', document)]


@pytest.fixture(scope="module")
def report_file(source, champion, tmp_path_factory):
    for day in ("2013-08-15", "2013-08-16", "2013-08-17"):
        tasks.run_night(day, f"report-test-{day}")
    path = tmp_path_factory.mktemp("report") / "report.html"
    uc = load_usecase(None)
    return write_report(source, uc, date_from=dt.date(2013, 8, 15), date_to=dt.date(2013, 8, 17), output=path)


def test_the_report_embeds_every_plot_as_a_real_image(report_file):
    from PIL import Image

    document = report_file.read_text(encoding="utf-8")
    images = embedded_images(document)
    assert len(images) == 5
    for title in (
        "Daily volume and flagged share",
        "Score distribution per date",
        "Drift heatmap",
        "Model performance over time",
        "Promotion timeline",
    ):
        assert f'alt="{title}"' in document
    for png in images:
        image = Image.open(io.BytesIO(png))
        image.load()
        assert image.format == "PNG" and image.width >= 600 and image.height >= 150
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 20  # drawn, not blank
    assert "http://" not in document and "https://" not in document  # self-contained: nothing to fetch
    assert "2013-08-15 to 2013-08-17" in document


def test_the_report_refuses_an_inverted_or_empty_range(source, champion, tmp_path):
    from pipeline.monitoring.report.data import ReportError

    uc = load_usecase(None)
    ensure_bi_views(source, uc)
    with pytest.raises(ReportError, match="is after"):
        write_report(source, uc, date_from=dt.date(2013, 8, 17), date_to=dt.date(2013, 8, 1), output=tmp_path / "r")
    with pytest.raises(ReportError, match="no published predictions between 2012-01-01 and 2012-01-31"):
        write_report(source, uc, date_from=dt.date(2012, 1, 1), date_to=dt.date(2012, 1, 31), output=tmp_path / "r")
    assert not (tmp_path / "r").exists()


@pytest.mark.browser
@pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="Debian package chromium is not installed (apt-get install chromium): "
    "the headless-browser check of the report cannot run here",
)
def test_the_report_loads_in_headless_chromium_without_errors(report_file, tmp_path):
    from PIL import Image

    shot = tmp_path / "report.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1200,2400",
    ]
    dom = subprocess.run(
        ["chromium", *flags, "--dump-dom", report_file.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<img") == 5 and "Drift heatmap" in dom.stdout
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []
    snap = subprocess.run(
        ["chromium", *flags, f"--screenshot={shot}", report_file.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert snap.returncode == 0 and shot.exists(), snap.stderr[-2000:]
    assert len(Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20) or []) > 50  # rendered plots


def test_a_login_password_is_stored_as_the_scram_verifier_of_that_password(source):
    import hashlib
    import hmac

    from pipeline.db.bi import set_login_password

    role = f"scram_probe_{uuid.uuid4().hex[:8]}"
    with source.begin() as conn:
        conn.exec_driver_sql(f"create role {role}")
        set_login_password(conn, role, "probe-Password-1")
        stored, can_login = conn.execute(
            sa.text("select rolpassword, rolcanlogin from pg_authid where rolname = :r"), {"r": role}
        ).one()
        conn.exec_driver_sql(f"drop role {role}")
    iterations, salt, stored_key, server_key = re.fullmatch(
        r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)", stored
    ).groups()
    # RFC 5802: what the server stores is derived from the password, the salt and the iteration count
    salted = hashlib.pbkdf2_hmac("sha256", b"probe-Password-1", base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    assert can_login
    assert base64.b64decode(stored_key) == hashlib.sha256(client_key).digest()
    assert base64.b64decode(server_key) == hmac.new(salted, b"Server Key", hashlib.sha256).digest()


def test_a_version_without_reference_gets_the_same_one_rebuilt_from_its_windows(source, champion, usecase):
    from pipeline.model.reference import ensure_reference

    def stored():
        with source.connect() as conn:
            return conn.execute(
                sa.text("select drift_reference from batchscore.model_versions where use_case = :u and version = :v"),
                {"u": usecase.name, "v": champion.version},
            ).scalar_one()

    original = stored()
    assert original["rows"] > 1000 and set(original["numeric"]) == set(usecase.features.numeric)
    with source.begin() as conn:
        conn.execute(
            sa.text("update batchscore.model_versions set drift_reference = null where use_case = :u and version = :v"),
            {"u": usecase.name, "v": champion.version},
        )
    ensure_reference(source, usecase, champion.version)
    assert stored() == original  # same point-in-time sets, same artifact: the very same reference


def test_two_monitors_storing_the_same_runs_drift_at_once_do_not_collide(source, champion, usecase):
    import threading

    from pipeline.monitoring.drift import DriftMetric
    from pipeline.monitoring.drift_store import store_metrics

    metrics = [DriftMetric(f"f{i}", "psi", 0.1, 0.25, "ok", 500, 5000) for i in range(40)]
    day, errors = dt.date(2013, 5, 23), []
    barrier = threading.Barrier(2)

    def store():
        try:
            for _ in range(15):
                barrier.wait()
                store_metrics(source, usecase, day, "drift-test-twice", "v1", metrics)
        except Exception as exc:  # collected: any error fails the test
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=store) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert len(drift_rows(source, "drift-test-twice")) == 40
    finally:
        with source.begin() as conn:
            conn.execute(sa.text("delete from batchscore.drift_metrics where run_id = 'drift-test-twice'"))
