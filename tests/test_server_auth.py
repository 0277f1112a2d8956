"""The Prefect server with authentication (README "Securing the server"): without the auth string the API
answers 401; clients, the CLI and workers that set PREFECT_API_AUTH_STRING work."""

from __future__ import annotations

import base64
import secrets

import httpx
import pytest

from tests.prefect_server import running_server


def test_the_installed_prefect_reads_the_documented_settings(monkeypatch):
    from prefect.settings import Settings

    monkeypatch.setenv("PREFECT_SERVER_API_AUTH_STRING", "admin:server-side")
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", "admin:client-side")
    monkeypatch.setenv("PREFECT_SERVER_API_HOST", "0.0.0.0")
    monkeypatch.setenv("PREFECT_SERVER_API_PORT", "4201")
    monkeypatch.setenv("PREFECT_UI_API_URL", "https://prefect.example.com/api")
    settings = Settings()
    assert settings.server.api.auth_string.get_secret_value() == "admin:server-side"
    assert settings.api.auth_string.get_secret_value() == "admin:client-side"
    assert (settings.server.api.host, settings.server.api.port) == ("0.0.0.0", 4201)
    assert settings.server.ui.api_url == "https://prefect.example.com/api"


def _basic(auth: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}


@pytest.mark.timeout(240)
def test_server_refuses_calls_without_the_auth_string(tmp_path):
    from prefect.client.orchestration import SyncPrefectClient

    auth = f"polydub-admin:{secrets.token_urlsafe(16)}"
    env = {"PREFECT_SERVER_API_AUTH_STRING": auth, "PREFECT_API_AUTH_STRING": auth}
    with running_server(tmp_path, extra_env=env) as server:
        api = server.api_url
        assert httpx.get(f"{api}/health", timeout=30).status_code == 200  # health probes stay open (load balancers)
        for headers in ({}, _basic("polydub-admin:wrong"), {"Authorization": f"Bearer {auth}"}):
            refused = httpx.post(f"{api}/work_pools/filter", json={}, headers=headers, timeout=30)
            assert refused.status_code == 401, (headers, refused.text)
        assert httpx.post(f"{api}/work_pools/filter", json={}, headers=_basic(auth), timeout=30).status_code == 200

        # the CLI (as a worker or `prefect deploy` would) authenticates with PREFECT_API_AUTH_STRING from its environment
        server.cli("work-pool", "create", "polydub-auth-check", "--type", "process")
        with SyncPrefectClient(api, auth_string=auth) as client:
            assert "polydub-auth-check" in [pool.name for pool in client.read_work_pools()]
        with SyncPrefectClient(api) as anonymous, pytest.raises(httpx.HTTPStatusError) as denied:
            anonymous.read_work_pools()
        assert denied.value.response.status_code == 401
        assert auth not in server.log_path.read_text(errors="replace")  # the server does not log the secret
