"""The /_sandbox control surface and the ``m365-sandbox serve`` command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from m365sandbox import Sandbox, SandboxServer, cli
from tests.conftest import CLIENT_ID, REDIRECT, TENANT_A, TENANT_B


@pytest.fixture
def ctl(sb: Sandbox, server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{server.url}/_sandbox", verify=server.ca_file, trust_env=False) as c:
        yield c


def test_lists_tenants(ctl: httpx.Client) -> None:
    tenants = {t["id"]: t for t in ctl.get("/tenants").json()}
    assert set(tenants) == {TENANT_A, TENANT_B}
    assert tenants[TENANT_A]["users"] == 4 and tenants[TENANT_A]["domain"] == "contoso.example"


def test_faults_via_http_reach_graph(ctl: httpx.Client, graph: httpx.Client) -> None:
    f = ctl.post("/faults", json={"kind": "503", "tenant": TENANT_A, "count": 1}).json()
    assert f["kind"] == "503" and [x["id"] for x in ctl.get("/faults").json()] == [f["id"]]
    assert graph.get("/users").status_code == 503
    assert ctl.get("/faults").json() == []
    assert ctl.post("/faults", json={"kind": "nope"}).status_code == 400


def test_consent_switches_via_http(ctl: httpx.Client, server: SandboxServer) -> None:
    ctl.post(f"/tenants/{TENANT_B}/consent-settings", json={"deny": "The admin canceled the request"})
    with httpx.Client(verify=server.ca_file, trust_env=False) as c:
        r = c.get(f"{server.url}/{TENANT_B}/adminconsent",
                  params={"client_id": CLIENT_ID, "redirect_uri": REDIRECT, "state": "s1"})
    q = parse_qs(urlsplit(r.headers["location"]).query)
    assert q["error"] == ["access_denied"] and q["state"] == ["s1"]
    granted = ctl.post(f"/tenants/{TENANT_B}/consent", json={"client_id": CLIENT_ID, "tier": "advanced"})
    assert "User.ReadWrite.All" in granted.json()["roles"]


def test_clock_and_ground_truth(ctl: httpx.Client, sb: Sandbox, graph: httpx.Client) -> None:
    before = sb.clock()
    assert ctl.post("/clock", json={"advance": 60}).json()["now"] == before + 60
    graph.post("/users/bob@contoso.example/revokeSignInSessions")
    truth = ctl.get(f"/tenants/{TENANT_A}/truth").json()
    assert truth["sessions_revoked"] == ["aaaaaaaa-u002-4000-8000-000000000000"]
    assert truth["malicious_rules"] == [["aaaaaaaa-u001-4000-8000-000000000000", "AQAAAJ5dZqA="]]
    assert truth["forwarding"] == {"aaaaaaaa-u002-4000-8000-000000000000": "smtp:drop@evil.example"}


def test_inject_rule_shows_in_exchange(ctl: httpx.Client, sb: Sandbox) -> None:
    r = ctl.post(f"/tenants/{TENANT_A}/mailboxes/bob@contoso.example/rules",
                 json={"rule": {"Name": ".", "Enabled": True, "RedirectTo": ["x@evil.example"]},
                       "hidden": True})
    assert r.status_code == 200
    mb = sb.tenant(TENANT_A).mailboxes["aaaaaaaa-u002-4000-8000-000000000000"]
    assert mb.hidden_rules[-1]["Name"] == "."
    assert ctl.post(f"/tenants/{TENANT_A}/mailboxes/ghost@x/rules", json={"rule": {}}).status_code == 404


def test_reset_drops_tenants(ctl: httpx.Client) -> None:
    assert ctl.post("/reset").json() == {"reset": True}
    assert ctl.get("/tenants").json() == []


def test_unknown_graph_segment_gets_graph_error(graph: httpx.Client) -> None:
    r = graph.get("/nonsense")
    assert r.status_code == 400 and r.json()["error"]["code"] == "BadRequest"


def test_cli_serve_prints_url_ca_and_credentials(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from m365sandbox.seed import TenantSeed

    monkeypatch.setattr(Sandbox, "add_generated_tenant", lambda self, **kw: self.add_tenant(
        TenantSeed(tenant_id=f"dddddddd-0000-4000-8000-{kw['seed']:012d}", domain=f"t{kw['seed']}.example",
                   display_name="T")))
    args = cli.build_parser().parse_args(["serve", "--port", "0", "--tenants", "2", "--seed", "1",
                                          "--state-dir", str(tmp_path)])
    assert cli.serve(args, block=False) == 0
    out = capsys.readouterr().out
    assert "https://127.0.0.1:" in out and str(tmp_path / "tls" / "ca.pem") in out
    assert "dddddddd-0000-4000-8000-000000000001" in out and "dddddddd-0000-4000-8000-000000000002" in out
    creds = json.loads((tmp_path / "app.json").read_text())
    assert creds["client_secret"] not in out
    assert oct((tmp_path / "app.json").stat().st_mode)[-3:] == "600"


def test_server_endpoints_point_every_url_at_the_sandbox(server: SandboxServer) -> None:
    ep = server.endpoints("usgov-gcchigh")
    assert ep["graph_url"] == ep["exchange_url"] == ep["login_url"] == server.url
    assert ep["graph_resource"] == "https://graph.microsoft.us"  # the audience stays the cloud's
    assert ep["exchange_resource"] == "https://outlook.office365.us"
    assert server.endpoints("china")["supports_message_rules"] is False


def test_control_endpoint_refuses_non_loopback_clients(sb: Sandbox) -> None:
    import asyncio

    from m365sandbox.app import build_app

    app = build_app(sb)
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/_sandbox/tenants", "raw_path": b"/_sandbox/tenants",
             "query_string": b"", "headers": [], "client": ("10.0.0.5", 5000), "server": ("x", 443),
             "scheme": "https", "root_path": "", "http_version": "1.1"}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 403
