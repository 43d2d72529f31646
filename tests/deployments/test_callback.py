"""The consent callback app: state checks, run checks, resume, and what the admin sees."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from deployments.callback import create_app
from mailwarden.onboarding import new_state
from mailwarden.store import Store
from mailwarden.store.models import ConsentRequest
from mailwarden.store.repositories import create_consent_request

TENANT = "3c5a2b1e-1111-4222-8333-944455556666"


class FakeRuns:
    def __init__(self, states: dict[str, list[str | None]]) -> None:
        self.states = states  # run id -> successive states
        self.resumed: list[tuple[str, dict[str, Any]]] = []

    async def state_of(self, flow_run_id: str) -> str | None:
        seq = self.states.get(flow_run_id)
        if not seq:
            return None
        return seq.pop(0) if len(seq) > 1 else seq[0]

    async def resume(self, flow_run_id: str, run_input: dict[str, Any]) -> None:
        self.resumed.append((flow_run_id, run_input))


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'cb.sqlite'}")
    s.migrate()
    return s


def _request(
    store: Store, run_id: str | None, *, ttl: timedelta = timedelta(minutes=5), tier: str = "basic"
) -> str:
    state = new_state()
    with store.session() as s:
        create_consent_request(s, state, "contoso.com", flow_run_id=run_id, tier=tier, ttl=ttl)
    return state


def _client(store: Store, runs: FakeRuns, **kw: Any) -> TestClient:
    return TestClient(create_app(store, runs=runs, sleep=_no_sleep, **kw))


def _used(store: Store) -> list[Any]:
    with store.session() as s:
        return [r.used_at for r in s.scalars(select(ConsentRequest))]


def test_grant_resumes_the_waiting_run_and_consumes_the_state(store: Store) -> None:
    run = str(uuid.uuid4())
    runs = FakeRuns({run: ["PAUSED"]})
    state = _request(store, run, tier="advanced")
    r = _client(store, runs).get(
        "/consent/callback", params={"admin_consent": "True", "tenant": TENANT, "state": state}
    )
    assert r.status_code == 200 and "Connected" in r.text and "close this window" in r.text
    assert runs.resumed == [
        (
            run,
            {
                "granted": True,
                "tenant_id": TENANT,
                "error": None,
                "error_description": None,
                "tier": "advanced",
            },
        )
    ]
    assert _used(store)[0] is not None


def test_replayed_state_is_refused_and_resumes_nothing(store: Store) -> None:
    run = str(uuid.uuid4())
    runs = FakeRuns({run: ["PAUSED"]})
    state = _request(store, run)
    client = _client(store, runs)
    q = {"admin_consent": "True", "tenant": TENANT, "state": state}
    assert client.get("/consent/callback", params=q).status_code == 200
    again = client.get("/consent/callback", params=q)
    assert again.status_code == 400 and "already used" in again.text
    assert len(runs.resumed) == 1


def test_forged_state_is_refused_and_changes_nothing(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    run = str(uuid.uuid4())
    runs = FakeRuns({run: ["PAUSED"]})
    _request(store, run)
    forged = new_state()
    r = _client(store, runs).get(
        "/consent/callback", params={"admin_consent": "True", "tenant": TENANT, "state": forged}
    )
    assert r.status_code == 400 and "not known" in r.text
    assert runs.resumed == [] and _used(store) == [None]
    assert forged not in caplog.text


def test_expired_state_is_refused(store: Store) -> None:
    run = str(uuid.uuid4())
    runs = FakeRuns({run: ["PAUSED"]})
    state = _request(store, run, ttl=timedelta(seconds=-1))
    r = _client(store, runs).get(
        "/consent/callback", params={"admin_consent": "True", "tenant": TENANT, "state": state}
    )
    assert r.status_code == 400 and "expired" in r.text
    assert runs.resumed == [] and _used(store) == [None]


def test_callback_for_an_unknown_run_is_refused_without_consuming(store: Store) -> None:
    runs = FakeRuns({})
    state = _request(store, str(uuid.uuid4()))
    r = _client(store, runs).get(
        "/consent/callback", params={"admin_consent": "True", "tenant": TENANT, "state": state}
    )
    assert r.status_code == 409 and "no longer exists" in r.text
    assert runs.resumed == [] and _used(store) == [None]


def test_callback_for_a_finished_run_is_refused(store: Store) -> None:
    run = str(uuid.uuid4())
    runs = FakeRuns({run: ["FAILED"]})
    state = _request(store, run)
    r = _client(store, runs).get(
        "/consent/callback", params={"admin_consent": "True", "tenant": TENANT, "state": state}
    )
    assert r.status_code == 409 and runs.resumed == [] and _used(store) == [None]


def test_a_run_about_to_pause_is_waited_for(store: Store) -> None:
    run = str(uuid.uuid4())
    runs = FakeRuns({run: ["RUNNING", "RUNNING", "PAUSED"]})
    state = _request(store, run)
    r = _client(store, runs).get(
        "/consent/callback", params={"admin_consent": "True", "tenant": TENANT, "state": state}
    )
    assert r.status_code == 200 and len(runs.resumed) == 1


def test_refused_consent_resumes_the_run_with_the_admins_reason(store: Store) -> None:
    run = str(uuid.uuid4())
    runs = FakeRuns({run: ["PAUSED"]})
    state = _request(store, run)
    r = _client(store, runs).get(
        "/consent/callback",
        params={
            "error": "access_denied",
            "error_description": "<b>The admin canceled the request</b>",
            "state": state,
        },
    )
    assert r.status_code == 200 and "not granted" in r.text
    assert "<b>" not in r.text and "&lt;b&gt;" in r.text  # escaped
    assert runs.resumed[0][1]["granted"] is False
    assert runs.resumed[0][1]["error_description"] == "<b>The admin canceled the request</b>"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"admin_consent": "True", "tenant": TENANT},
        {"state": "x" * 43},
        {"admin_consent": "True", "state": "x" * 43},
    ],
)
def test_malformed_callback_is_a_400_and_changes_nothing(store: Store, params: dict[str, str]) -> None:
    run = str(uuid.uuid4())
    runs = FakeRuns({run: ["PAUSED"]})
    _request(store, run)
    r = _client(store, runs).get("/consent/callback", params=params)
    assert r.status_code == 400 and runs.resumed == [] and _used(store) == [None]


def test_callback_server_serves_on_a_free_port(store: Store) -> None:
    import httpx

    from deployments.callback import CallbackServer

    with CallbackServer(create_app(store, runs=FakeRuns({}))) as srv:
        assert srv.port > 0
        assert httpx.get(srv.url + "/healthz").json() == {"status": "ok"}
        assert srv.redirect_uri().endswith("/consent/callback")
