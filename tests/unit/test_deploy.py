"""The production deployment, checked offline (no Docker engine here): docker-compose.yml against the
compose-spec schema, every variable it needs declared, no secret committed, the services wired as documented,
and the pipeline able to use the database URL the compose file hands it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.config.paths import project_root

ROOT = project_root()
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}; $${...} is an escaped literal
VAR_REF = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$", re.I)
AIRFLOW_SERVICES = (
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


def test_compose_file_validates_against_the_compose_spec_schema():
    checker = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_catches_a_broken_compose_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        COMPOSE.read_text().replace(
            '    healthcheck:\n      test: ["CMD-SHELL", "pg_isready',
            '    healthcheck:\n      tset: ["CMD-SHELL", "pg_isready',
            1,
        )
    )
    checker = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "tset" in done.stdout + done.stderr


def test_every_variable_the_services_use_is_declared_in_env_example_or_has_a_default():
    declared = env_example()
    undeclared = sorted(
        {name for name, op, _ in VAR_REF.findall(COMPOSE.read_text()) if op not in ("-", ":-") and name not in declared}
    )
    assert undeclared == []
    used = {name for name, _, _ in VAR_REF.findall(COMPOSE.read_text())}
    assert sorted(set(declared) - used) == []  # and .env.example documents nothing that is not used


def test_no_secret_is_committed(compose):
    example = env_example()
    filled = {k: v for k, v in example.items() if SECRET_NAME.search(k) and v}
    assert filled == {}  # .env.example leaves every secret empty
    # every secret-looking setting and every password inside a URL is a ${VAR} reference, never a literal
    literals = []
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            text = str(value)
            if SECRET_NAME.search(key) and not key.endswith("_FILE") and not VAR_REF.fullmatch(text):
                literals.append(f"{name}.{key}")
            for userinfo in re.findall(r"://([^/@\s]*)@", text):
                _, _, password = userinfo.partition(":")
                if password and not VAR_REF.fullmatch(password):
                    literals.append(f"{name}.{key} (password in URL)")
    assert literals == []
    for path in [COMPOSE, ROOT / "Dockerfile", *sorted((ROOT / "deploy").rglob("*"))]:
        if path.is_file():
            assert not re.search(r"password\s+'[^':]", path.read_text(), re.I), path


def test_the_services_are_wired_for_celery_with_health_checks_and_named_volumes(compose):
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "airflow-init", *AIRFLOW_SERVICES}
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"].startswith("redis:")
    for name, service in services.items():
        if name != "airflow-init":
            assert "test" in service.get("healthcheck", {}), f"{name} has no health check"
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            assert source.startswith("./") or source in compose["volumes"], f"{name}: undeclared volume {source}"
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        env = services[name]["environment"]
        assert services[name]["build"]["dockerfile"] == "Dockerfile"
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert env["AIRFLOW__CELERY__BROKER_URL"].endswith("@redis:6379/0")
        assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")  # the UI needs a login
        assert "ALL_ADMINS" not in " ".join(env)
    worker = services["airflow-worker"]
    assert worker["command"][:3] == ["airflow", "celery", "worker"]
    assert "container_name" not in worker and "ports" not in worker  # `--scale airflow-worker=N` works
    assert "batchscore-models:/opt/batchscore/models" in worker["volumes"]  # one model store for all workers
    assert services["airflow-worker"]["environment"]["BATCHSCORE_MODEL_STORE"] == "/opt/batchscore/models"
    commands = {n: services[n]["command"][:2] for n in AIRFLOW_SERVICES if n != "airflow-worker"}
    assert commands == {
        "airflow-api-server": ["airflow", "api-server"],
        "airflow-scheduler": ["airflow", "scheduler"],
        "airflow-dag-processor": ["airflow", "dag-processor"],
        "airflow-triggerer": ["airflow", "triggerer"],
    }
    assert services["airflow-init"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["airflow-scheduler"]["depends_on"]["airflow-init"]["condition"] == (
        "service_completed_successfully"
    )


def test_the_init_service_migrates_airflow_and_our_schema_and_sets_the_admin_login():
    script = (ROOT / "deploy" / "airflow-init.sh").read_text()
    steps = [line.strip() for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert "airflow db migrate" in steps and "batchscore db migrate" in steps
    assert steps.index("airflow db migrate") < steps.index("batchscore db migrate")
    assert "AIRFLOW_ADMIN_PASSWORD" in script
    roles = (ROOT / "deploy" / "postgres" / "10-databases-and-roles.sh").read_text()
    assert "create database batchscore owner batchscore_writer" in roles
    assert "create database airflow owner airflow" in roles
    assert "batchscore_bi" not in roles.split("<<'SQL'", 1)[1]  # the BI role comes from migration 0005


def test_the_image_installs_the_project_from_the_lock():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "uv sync --locked --no-dev" in dockerfile and "COPY pyproject.toml uv.lock" in dockerfile
    lock = (ROOT / "uv.lock").read_text()
    assert re.search(r'name = "apache-airflow"\nversion = "3\.3\.2"', lock)
    assert 'name = "apache-airflow-providers-celery"' in lock and 'name = "asyncpg"' in lock


def test_the_pipeline_accepts_the_database_url_the_compose_file_provides(compose, monkeypatch):
    from pipeline.config.settings import load_settings
    from pipeline.db.engine import normalise_url, redact

    env = compose["services"]["airflow-worker"]["environment"]

    def fill(text: str) -> str:
        return VAR_REF.sub(lambda m: "pw-from-env" if SECRET_NAME.search(m.group(1)) else (m.group(3) or "x"), text)

    monkeypatch.setenv("BATCHSCORE_DATABASE_URL", fill(env["BATCHSCORE_DATABASE_URL"]))
    url = normalise_url(load_settings().database_url)
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "batchscore_writer",
        "pw-from-env",
        "postgres",
        5432,
        "batchscore",
    )
    assert "pw-from-env" not in redact(url)
    monkeypatch.delenv("BATCHSCORE_DATABASE_URL")
    monkeypatch.setenv("AIRFLOW_CONN_BATCHSCORE_DB", fill(env["AIRFLOW_CONN_BATCHSCORE_DB"]))
    assert normalise_url(load_settings().database_url) == url
