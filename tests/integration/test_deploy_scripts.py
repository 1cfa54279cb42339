"""The compose deployment's own scripts, run for real against a throwaway PostgreSQL 16 (pgserver's cluster
stands in for the postgres container): the roles script creates the two databases and their owners, the init
script migrates Airflow's metadata and our schema and writes the admin login. No Docker engine needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from pipeline.config.paths import project_root
from tests.helpers import stop_cluster

DEPLOY = project_root() / "deploy"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from pipeline.db.engine import _pgserver_get_server

    pgdata = tmp_path_factory.mktemp("compose-pg") / "pgdata"
    server = _pgserver_get_server(pgdata, "delete")
    socket_dir = make_url(server.get_uri()).query["host"]
    bin_dir = Path(sys.modules["pgserver"].__file__).parent / "pginstall" / "bin"
    yield str(socket_dir), bin_dir
    stop_cluster(pgdata)


def _engine(socket_dir: str, user: str, database: str) -> sa.Engine:
    return sa.create_engine(f"postgresql+psycopg2://{user}@/{database}?host={socket_dir}", poolclass=sa.pool.NullPool)


def test_the_roles_script_and_the_init_script_set_up_a_working_deployment(cluster, tmp_path):
    socket_dir, pg_bin = cluster
    secrets = {
        "AIRFLOW_DB_PASSWORD": "pw-airflow-1",
        "BATCHSCORE_WRITER_PASSWORD": "pw-writer-2",
        "AIRFLOW_ADMIN_PASSWORD": "pw-admin-3",
    }
    base = {
        **os.environ,
        **secrets,
        "PATH": os.pathsep.join([str(pg_bin), str(Path(sys.executable).parent), os.environ["PATH"]]),
    }
    roles = subprocess.run(
        ["bash", str(DEPLOY / "postgres" / "10-databases-and-roles.sh")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, "POSTGRES_USER": "postgres", "PGHOST": socket_dir},
    )
    assert roles.returncode == 0, roles.stdout + roles.stderr
    assert "pw-" not in roles.stdout + roles.stderr

    passwords = tmp_path / "auth" / "passwords.json"
    env = {
        **base,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://airflow:{secrets['AIRFLOW_DB_PASSWORD']}@/airflow?host={socket_dir}",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "BATCHSCORE_DATABASE_URL": f"postgresql://batchscore_writer:{secrets['BATCHSCORE_WRITER_PASSWORD']}@/batchscore?host={socket_dir}",
        "BATCHSCORE_HOME": str(tmp_path / "home"),
    }
    for _ in range(2):  # re-running the init is harmless
        init = subprocess.run(
            ["bash", str(DEPLOY / "airflow-init.sh")], capture_output=True, text=True, timeout=600, env=env
        )
        assert init.returncode == 0, init.stdout[-3000:] + init.stderr[-3000:]
        assert init.stdout.strip().endswith("init done")
        assert not any(p in init.stdout + init.stderr for p in secrets.values())

    assert json.loads(passwords.read_text()) == {"admin": "pw-admin-3"}
    assert oct(passwords.stat().st_mode)[-3:] == "600"
    data = _engine(socket_dir, "postgres", "batchscore")
    with data.connect() as conn:
        owners = dict(
            conn.execute(
                sa.text(
                    "select nspname, pg_get_userbyid(nspowner) from pg_namespace "
                    "where nspname in ('batchscore', 'batchscore_staging')"
                )
            ).all()
        )
        tables = set(
            conn.execute(sa.text("select distinct tableowner from pg_tables where schemaname = 'batchscore'")).scalars()
        )
        applied = conn.execute(sa.text("select count(*) from batchscore.schema_migrations")).scalar()
        writer = conn.execute(
            sa.text("select rolcanlogin, rolsuper, rolcreaterole from pg_roles where rolname = 'batchscore_writer'")
        ).one()
    assert owners == {"batchscore": "batchscore_writer", "batchscore_staging": "batchscore_writer"}
    assert tables == {"batchscore_writer"}
    assert applied == len(list((project_root() / "sql" / "migrations").glob("*.sql")))
    assert tuple(writer) == (True, False, True)  # a login, not a superuser; may create the BI reader role
    meta = _engine(socket_dir, "postgres", "airflow")
    with meta.connect() as conn:
        assert (
            conn.execute(
                sa.text("select pg_get_userbyid(relowner) from pg_class where relname = 'alembic_version'")
            ).scalar()
            == "airflow"
        )
    # each role reaches only its own database
    with pytest.raises(sa.exc.OperationalError, match="permission denied for database"):
        _engine(socket_dir, "batchscore_writer", "airflow").connect()
    with pytest.raises(sa.exc.OperationalError, match="permission denied for database"):
        _engine(socket_dir, "airflow", "batchscore").connect()
