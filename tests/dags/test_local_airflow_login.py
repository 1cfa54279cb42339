"""Local mode (`batchscore airflow`, i.e. airflow standalone): the UI/API needs a login.

The API app is built in this process with exactly the settings `standalone()` gives Airflow; the real
deployment of tests/scheduler checks the same against running servers."""

import json
import os

import pytest

from pipeline.orchestration import local as airflow_local


@pytest.fixture
def api_client(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    airflow_local.ensure_airflow_db()
    password = airflow_local._admin_password(tmp_path)
    for key, value in airflow_local.standalone_env(tmp_path, 8095).items():
        monkeypatch.setenv(key, value)
    from airflow.api_fastapi.app import create_app, purge_cached_app

    purge_cached_app()
    try:
        with TestClient(create_app("core")) as client:
            yield client, password
    finally:
        purge_cached_app()


def test_the_local_api_answers_401_without_a_token_and_serves_with_the_admin_login(api_client, tmp_path):
    client, password = api_client
    assert client.get("/api/v2/dags").status_code == 401
    # an invalid token is refused too (Airflow answers 403 to a token it cannot verify)
    assert client.get("/api/v2/dags", headers={"Authorization": "Bearer forged"}).status_code == 403
    assert client.post("/auth/token", json={"username": "admin", "password": "wrong"}).status_code == 401
    token = client.post("/auth/token", json={"username": "admin", "password": password})
    assert token.status_code == 201
    ok = client.get("/api/v2/dags", headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert ok.status_code == 200
    stored = tmp_path / "simple_auth_manager_passwords.json"
    assert json.loads(stored.read_text()) == {"admin": password} and oct(stored.stat().st_mode)[-3:] == "600"
    assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS" not in os.environ or (
        os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"
    )
