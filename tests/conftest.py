"""Test isolation: every test session gets its own home folder, Airflow home and PostgreSQL database.

Paths are set at import time, before any test module imports Airflow (which reads its configuration once).
Database (created lazily, only for tests that need one): ``BATCHSCORE_TEST_DATABASE_URL`` when set (any
server; a fresh database is created there and dropped at the end), otherwise a throwaway embedded
PostgreSQL deleted at the end. Never skipped for lack of a server.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="batchscore-test-"))
# registered before pgserver is imported, so it runs after pgserver's own exit handler (which stops the
# throwaway server and touches its lock folder under _HOME)
atexit.register(shutil.rmtree, _HOME, True)
os.environ["BATCHSCORE_HOME"] = str(_HOME)
for _name in (
    "BATCHSCORE_DATABASE_URL",
    "AIRFLOW_CONN_BATCHSCORE_DB",
    "BATCHSCORE_USECASE",
    "BATCHSCORE_USECASES_DIR",
    "BATCHSCORE_MODEL_STORE",
    "AIRFLOW__LOGGING__LOGGING_LEVEL",
    "BATCHSCORE_CHUNK_ROWS",
    "BATCHSCORE_PREDICT_THREADS",
):
    os.environ.pop(_name, None)

from pipeline.orchestration.local import configure_airflow_env  # noqa: E402

configure_airflow_env()

# a small training window keeps the session fast; the model is still a real champion
TRAIN_WINDOW = {
    "train_from": dt.date(2013, 5, 1),
    "train_to": dt.date(2013, 5, 31),
    "holdout_from": dt.date(2013, 6, 1),
    "holdout_to": dt.date(2013, 6, 14),
}


SUITES = ("unit", "integration", "dags", "faults", "scheduler")


def pytest_collection_modifyitems(config, items):
    """Mark every test with its suite, the directory it lives in (``pytest -m unit`` is ``make test-fast``)."""
    for item in items:
        parts = item.path.relative_to(config.rootpath / "tests").parts
        if parts and parts[0] in SUITES:
            item.add_marker(parts[0])


@pytest.fixture(scope="session")
def database_url():
    """The session's own database; BATCHSCORE_DATABASE_URL points at it while the session runs."""
    import sqlalchemy as sa

    from pipeline.config.settings import load_settings
    from pipeline.db.engine import dispose_engines, normalise_url, start_embedded

    admin_raw = load_settings().test_database_url
    if admin_raw:
        admin = normalise_url(admin_raw)
        name = f"batchscore_test_{uuid.uuid4().hex[:10]}"
        admin_engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with admin_engine.connect() as conn:
            conn.exec_driver_sql(f'create database "{name}"')
        url = admin.set(database=name)
    else:
        url = start_embedded(_HOME / "pgdata", cleanup_mode="delete")
    os.environ["BATCHSCORE_DATABASE_URL"] = url.render_as_string(hide_password=False)
    yield url
    dispose_engines()
    os.environ.pop("BATCHSCORE_DATABASE_URL", None)
    if admin_raw:
        with admin_engine.connect() as conn:
            conn.exec_driver_sql(
                "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()",
                (name,),
            )
            conn.exec_driver_sql(f'drop database if exists "{name}"')


@pytest.fixture(scope="session")
def engine(database_url):
    """An engine on the session's test database, migrated."""
    from pipeline.db.engine import get_engine
    from pipeline.db.migrations import migrate

    eng = get_engine()
    migrate(eng)
    return eng


@pytest.fixture(scope="session")
def source(engine):
    """nycflights13 loaded into schema source (once per session)."""
    from pipeline.demo.nycflights13 import load_source

    load_source(engine)
    return engine


@pytest.fixture(scope="session")
def usecase():
    from pipeline.config.loading import load_usecase, with_overrides

    return with_overrides(load_usecase("flight_cancellation"), {f"training.{k}": v for k, v in TRAIN_WINDOW.items()})


@pytest.fixture(scope="session")
def champion(source, usecase):
    """The registered champion of flight_cancellation, trained on a small window."""
    from pipeline.model.artifacts import ModelError
    from pipeline.model.registry import get_champion
    from pipeline.model.train import train_and_register

    try:
        return get_champion(source, usecase.name)
    except ModelError:
        return train_and_register(source, usecase, created_by="tests")
