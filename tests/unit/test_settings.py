"""Every BATCHSCORE_* variable is one field of one settings model; a misspelt one is refused with a hint."""

import re

import pytest

from pipeline.config.paths import project_root
from pipeline.config.settings import DEPLOYMENT_VARIABLES, Settings, SettingsError, env_name, load_settings


def test_a_misspelt_variable_is_refused_naming_the_closest_setting(monkeypatch):
    monkeypatch.setenv("BATCHSCORE_CHUNKROWS", "1000")
    with pytest.raises(
        SettingsError,
        match=r"^BATCHSCORE_CHUNKROWS is not a batchscore setting \(did you mean "
        r"BATCHSCORE_CHUNK_ROWS\?\)",
    ):
        load_settings()


def test_every_variable_the_deployment_sets_is_a_setting_or_a_declared_deployment_variable():
    known = {env_name(f) for f in Settings.model_fields} | set(DEPLOYMENT_VARIABLES)
    used = set()
    for name in (
        "docker-compose.yml",
        ".env.example",
        "Dockerfile",
        "deploy/airflow-init.sh",
        "deploy/postgres/10-databases-and-roles.sh",
    ):
        used |= set(re.findall(r"(?<![A-Z_])BATCHSCORE_[A-Z_]+", (project_root() / name).read_text()))
    assert used and used <= known, used - known


def test_settings_are_read_when_asked_for_not_at_import(monkeypatch):
    monkeypatch.setenv("BATCHSCORE_CHUNK_ROWS", "1234")
    assert load_settings().chunk_rows == 1234
    monkeypatch.setenv("BATCHSCORE_CHUNK_ROWS", "4321")
    assert load_settings().chunk_rows == 4321


@pytest.mark.parametrize(
    "name",
    [
        "BATCHSCORE_HOME",
        "BATCHSCORE_CHUNK_ROWS",
        "BATCHSCORE_PUBLISH_LOCK_WAIT",
        "BATCHSCORE_DATA_DOCS_KEEP",
        "BATCHSCORE_AIRFLOW_PORT",
        "BATCHSCORE_TEST_REDIS",
        "BATCHSCORE_SHARDS",
        "BATCHSCORE_DATABASE_URL",
        "BATCHSCORE_USECASE",
    ],
)
def test_an_empty_variable_means_unset(monkeypatch, name):
    field = next(f for f in Settings.model_fields if env_name(f) == name)
    monkeypatch.delenv(name, raising=False)
    default = getattr(load_settings(), field)
    monkeypatch.setenv(name, "")
    assert getattr(load_settings(), field) == default
