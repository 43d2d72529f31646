"""onboard-tenant / offboard-tenant against the sandbox tenant, driven as a browser would.

The flow runs on a background thread; the test reads the consent URL from the run's artifact,
follows the sandbox's /adminconsent redirect (with the sandbox CA) to the callback app running
in-process on a free port, and watches the run finish.
"""

from __future__ import annotations

import re
import sqlite3
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import consent_callback, save_app_blocks, save_webhook_block

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "onboarding"))
from onboarding_webhook import WebhookReceiver

pytestmark = pytest.mark.usefixtures("prefect_harness")

ARTIFACT_WAIT = 60.0


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def callback(embedded: Any, prefect_harness: None) -> Iterator[Any]:
    """The consent callback on a free port, registered as a redirect URI of both sandbox apps."""
    with consent_callback(embedded) as srv:
        yield srv


@pytest.fixture(scope="module")
def app_blocks(embedded: Any, callback: Any) -> dict[str, str]:
    """The two apps saved as M365App blocks whose redirect URI is the test's callback."""
    return save_app_blocks(embedded, callback, "ob")


@pytest.fixture(scope="module")
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def hook_block(hook: WebhookReceiver, prefect_harness: None) -> str:
    """A notification block that posts to :func:`hook`."""
    return save_webhook_block(hook.url, "ob")


@pytest.fixture
def fast_readiness(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A virtual clock for the readiness poll; ``on_sleep`` hooks run as virtual time passes."""
    import tasks.onboarding as tasks_mod

    clock: dict[str, Any] = {"now": 0.0, "sleeps": [], "on_sleep": None}

    def sleep(seconds: float) -> None:
        clock["sleeps"].append(seconds)
        clock["now"] += seconds
        if clock["on_sleep"] is not None:
            clock["on_sleep"](clock["now"])

    monkeypatch.setattr(tasks_mod, "readiness_sleep", sleep)
    monkeypatch.setattr(tasks_mod, "readiness_clock", lambda: clock["now"])
    return clock


# --- helpers ---------------------------------------------------------------------------------


class Run:
    """A flow call on a background thread; ``.state`` once it ends."""

    def __init__(self, fn: Callable[..., Any], **params: Any) -> None:
        self.state: Any = None
        self.thread = threading.Thread(target=self._go, args=(fn, params), daemon=True)
        self.thread.start()

    def _go(self, fn: Callable[..., Any], params: dict[str, Any]) -> None:
        self.state = fn(return_state=True, **params)

    def wait(self, timeout: float = 90.0) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the flow run did not finish"
        return self.state


def artifact_ids(key: str) -> set[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return {str(a.id) for a in found}


def consent_url_from_artifact(key: str, seen: set[str], run: Run) -> str:
    """Wait for a new artifact under ``key`` and return the consent link in it."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    deadline = time.monotonic() + ARTIFACT_WAIT
    while time.monotonic() < deadline:
        assert run.thread.is_alive() or run.state is None, f"the run ended early: {run.state}"
        with get_client(sync_client=True) as client:
            found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
        fresh = [a for a in found if str(a.id) not in seen]
        if fresh:
            match = re.search(r"\((https://[^)\s]+)\)", str(fresh[0].data))
            assert match, fresh[0].data
            seen.add(str(fresh[0].id))
            return match.group(1)
        time.sleep(0.2)  # waiting for the run to publish, not for timing
    raise AssertionError(f"no artifact {key} appeared")


def browse(url: str, ca_file: str) -> httpx.Response:
    """Open the consent link like a browser: follow the redirect to the callback."""
    ctx = ssl.create_default_context(cafile=ca_file)
    with httpx.Client(verify=ctx, follow_redirects=True, trust_env=False, timeout=60) as client:
        return client.get(url)


def params(
    domain: str,
    blocks: dict[str, str],
    embedded: Any,
    *,
    tier: str = "basic",
    cloud: str = "global",
    **kw: Any,
) -> dict[str, Any]:
    from flows.onboarding import AppSources, ReadinessOptions

    kw.setdefault("readiness", ReadinessOptions(limit_seconds=30, initial_delay=0.5, max_delay=2))
    kw.setdefault("consent_timeout_minutes", 2)
    return {
        "tenant": domain,
        "cloud": cloud,
        "tier": tier,
        "apps": AppSources(
            basic_app_block=blocks["basic"],
            advanced_app_block=blocks["advanced"],
            first_sync_deployment="reconcile-licenses/not-deployed-in-tests",
            consent_poll_seconds=1,
        ),
        **kw,
    }


def key_for(domain: str, tier: str = "basic") -> str:
    from tasks.onboarding import consent_artifact_key

    return consent_artifact_key(domain, tier)


def store_dump() -> str:
    from mailwarden.settings import get_settings

    url = get_settings().effective_store_url
    path = url.split("sqlite:///", 1)[1]
    con = sqlite3.connect(path)
    try:
        return "\n".join(con.iterdump())
    finally:
        con.close()


def flow_logs(state: Any) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id]))
        )
    return "\n".join(entry.message for entry in logs)


def all_artifacts_text() -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return "\n".join(str(a.data) + str(a.description) for a in client.read_artifacts())


# --- tests -----------------------------------------------------------------------------------


def test_browser_path_connects_a_tenant_and_keeps_the_secret_out_of_everything(
    embedded: Any,
    tenant_factory: Any,
    app_blocks: dict[str, str],
    hook: WebhookReceiver,
    hook_block: str,
    fast_readiness: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from blocks.m365 import M365Tenant
    from flows.onboarding import onboard_tenant
    from mailwarden.store.repositories import get_tenant
    from tasks.common import store_for

    _, tenant = tenant_factory(consent=None)
    seen = artifact_ids(key_for(tenant.domain))
    hook.received.clear()
    run = Run(onboard_tenant, **params(tenant.domain, app_blocks, embedded, notify_target=hook_block))
    page = browse(consent_url_from_artifact(key_for(tenant.domain), seen, run), embedded.ca_file)
    assert page.status_code == 200 and "Connected" in page.text
    state = run.wait()
    assert state.is_completed(), state
    result = state.result()
    assert result["tenant_id"] == tenant.id and result["consented"] == ["basic"]
    statuses = {r["capability"]: r["status"] for r in result["readiness"]}
    assert statuses == {
        "directory.read": "ready",
        "mailbox.read": "ready",
        "inbox-rules.read": "ready",
        "exchange.admin": "ready",
    }

    block = M365Tenant.load(result["block_name"])
    assert block.tenant_id == tenant.id and block.advanced_app is None and block.consent_state == "granted"
    assert block.endpoints().graph_url == block.endpoints().login_url == embedded.url  # the server's sandbox
    assert block.ca_file == embedded.ca_file
    with store_for(None).session() as s:
        row = get_tenant(s, tenant.id)
        assert row is not None and row.consent_state == "ready" and row.block_name == result["block_name"]

    assert hook.event.wait(5) and hook.received
    note = hook.received[-1]
    assert tenant.domain in note["subject"] and "directory.read: ready" in note["text"]

    secrets = [
        embedded.basic_app.client_secret.get_secret_value(),
        embedded.advanced_app.client_secret.get_secret_value(),
    ]
    haystacks = {
        "logs": flow_logs(state) + caplog.text,
        "artifacts": all_artifacts_text(),
        "webhook": repr(hook.received),
        "store": store_dump(),
    }
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"client secret leaked into {where}"


def test_advanced_tier_asks_two_consents_and_update_keeps_the_block_and_history(
    embedded: Any,
    tenant_factory: Any,
    app_blocks: dict[str, str],
    fast_readiness: dict[str, Any],
) -> None:
    from blocks.m365 import M365Tenant
    from flows.onboarding import onboard_tenant
    from mailwarden.store.repositories import get_tenant
    from tasks.common import store_for

    _, tenant = tenant_factory(consent=None)
    seen_b, seen_a = artifact_ids(key_for(tenant.domain)), artifact_ids(key_for(tenant.domain, "advanced"))
    run = Run(onboard_tenant, **params(tenant.domain, app_blocks, embedded, tier="advanced"))
    assert (
        "Connected"
        in browse(consent_url_from_artifact(key_for(tenant.domain), seen_b, run), embedded.ca_file).text
    )
    assert (
        "Connected"
        in browse(
            consent_url_from_artifact(key_for(tenant.domain, "advanced"), seen_a, run), embedded.ca_file
        ).text
    )
    state = run.wait()
    assert state.is_completed(), state
    result = state.result()
    assert result["consented"] == ["basic", "advanced"] and result["tier"] == "advanced"
    assert {r["capability"]: r["status"] for r in result["readiness"]}["identity.write"] == "ready"
    first = M365Tenant.load(result["block_name"])
    with store_for(None).session() as s:
        created = get_tenant(s, tenant.id).created_at  # type: ignore[union-attr]

    run2 = Run(onboard_tenant, **params(tenant.domain, app_blocks, embedded, tier="basic", update=True))
    browse(consent_url_from_artifact(key_for(tenant.domain), seen_b, run2), embedded.ca_file)
    state2 = run2.wait()
    assert state2.is_completed(), state2
    again = M365Tenant.load(result["block_name"])
    assert again._block_document_id == first._block_document_id  # updated in place
    assert again.advanced_app is not None  # a basic-tier update does not drop the advanced app
    with store_for(None).session() as s:
        assert get_tenant(s, tenant.id).created_at == created  # type: ignore[union-attr]


def test_readiness_waits_for_consent_to_propagate_then_succeeds(
    embedded: Any,
    tenant_factory: Any,
    app_blocks: dict[str, str],
    fast_readiness: dict[str, Any],
) -> None:
    from flows.onboarding import ReadinessOptions, onboard_tenant

    _, tenant = tenant_factory(consent=None)
    tenant.consent_propagation_seconds = 3600  # granted by /adminconsent, not usable yet

    def flip(now: float) -> None:  # propagation completes after 5 virtual seconds
        if now >= 5:
            embedded.sandbox.set_propagation_delay(tenant.id, embedded.basic_app.client_id, 0)

    fast_readiness["on_sleep"] = flip
    seen = artifact_ids(key_for(tenant.domain))
    run = Run(
        onboard_tenant,
        **params(
            tenant.domain,
            app_blocks,
            embedded,
            readiness=ReadinessOptions(limit_seconds=60, initial_delay=1, max_delay=4),
        ),
    )
    browse(consent_url_from_artifact(key_for(tenant.domain), seen, run), embedded.ca_file)
    state = run.wait()
    assert state.is_completed(), state
    assert fast_readiness["sleeps"] == [1, 2, 4]  # waited, and stopped soon after the flip


def test_readiness_that_never_comes_fails_naming_what_is_missing(
    embedded: Any,
    tenant_factory: Any,
    app_blocks: dict[str, str],
    fast_readiness: dict[str, Any],
) -> None:
    from blocks.m365 import M365Tenant, tenant_block_name
    from flows.onboarding import ReadinessOptions, onboard_tenant

    _, tenant = tenant_factory(consent=None)
    tenant.consent_propagation_seconds = 10**9
    seen = artifact_ids(key_for(tenant.domain))
    run = Run(
        onboard_tenant,
        **params(
            tenant.domain,
            app_blocks,
            embedded,
            readiness=ReadinessOptions(limit_seconds=10, initial_delay=1, max_delay=4),
        ),
    )
    browse(consent_url_from_artifact(key_for(tenant.domain), seen, run), embedded.ca_file)
    state = run.wait()
    assert state.is_failed()
    with pytest.raises(Exception, match=r"not ready after 10 s.*directory\.read.*mailbox\.read"):
        state.result()
    with pytest.raises(ValueError):
        M365Tenant.load(tenant_block_name(tenant.domain))


def test_china_cloud_reports_inbox_rules_unavailable(
    embedded: Any,
    tenant_factory: Any,
    app_blocks: dict[str, str],
    fast_readiness: dict[str, Any],
) -> None:
    from flows.onboarding import onboard_tenant

    _, tenant = tenant_factory(consent=None, cloud="china")
    seen = artifact_ids(key_for(tenant.domain))
    run = Run(onboard_tenant, **params(tenant.domain, app_blocks, embedded, cloud="china"))
    browse(consent_url_from_artifact(key_for(tenant.domain), seen, run), embedded.ca_file)
    state = run.wait()
    assert state.is_completed(), state
    rules = {r["capability"]: r for r in state.result()["readiness"]}["inbox-rules.read"]
    assert rules["status"] == "unavailable" and "china" in rules["detail"]


def test_refused_consent_fails_the_run_with_the_admins_reason_and_saves_nothing(
    embedded: Any,
    tenant_factory: Any,
    app_blocks: dict[str, str],
) -> None:
    from blocks.m365 import M365Tenant, tenant_block_name
    from flows.onboarding import onboard_tenant
    from mailwarden.store.repositories import get_tenant
    from tasks.common import store_for

    _, tenant = tenant_factory(consent=None)
    embedded.sandbox.deny_consent(tenant.id, "The admin canceled the request")
    seen = artifact_ids(key_for(tenant.domain))
    run = Run(onboard_tenant, **params(tenant.domain, app_blocks, embedded))
    page = browse(consent_url_from_artifact(key_for(tenant.domain), seen, run), embedded.ca_file)
    assert "not granted" in page.text and "The admin canceled the request" in page.text
    state = run.wait()
    assert state.is_failed()
    with pytest.raises(Exception, match="The admin canceled the request"):
        state.result()
    with pytest.raises(ValueError):
        M365Tenant.load(tenant_block_name(tenant.domain))
    with store_for(None).session() as s:
        assert get_tenant(s, tenant.id) is None


def test_no_consent_within_the_timeout_fails_with_how_to_retry(
    embedded: Any,
    tenant_factory: Any,
    app_blocks: dict[str, str],
) -> None:
    from flows.onboarding import onboard_tenant

    _, tenant = tenant_factory(consent=None)
    state = onboard_tenant(
        return_state=True, **params(tenant.domain, app_blocks, embedded, consent_timeout_minutes=2 / 60)
    )
    assert state.is_failed()
    with pytest.raises(Exception, match=r"no consent for the basic app within .* re-running onboard-tenant"):
        state.result()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"tenant": "not a domain!"}, "neither a tenant GUID nor a domain"),
        ({"store_url": "postgresql://u:pw@db/x"}, "must not carry a password"),
        ({"store_url": "postgresql://u@db/x?password=pw"}, r"must not carry a password.*query string"),
        ({"admin_email": "nobody"}, "admin_email"),
    ],
)
def test_malformed_parameters_fail_before_any_consent_request(
    embedded: Any,
    app_blocks: dict[str, str],
    override: dict[str, Any],
    message: str,
) -> None:
    from flows.onboarding import onboard_tenant

    before = store_dump().count('INSERT INTO "consent_requests"')
    p = params("contoso-params.example.com", app_blocks, embedded)
    p.update(override)
    state = onboard_tenant(return_state=True, **p)
    assert state.is_failed()
    with pytest.raises(Exception, match=message):
        state.result()
    assert store_dump().count('INSERT INTO "consent_requests"') == before


def test_unknown_cloud_is_refused_by_the_parameter_form(embedded: Any, app_blocks: dict[str, str]) -> None:
    from flows.onboarding import onboard_tenant

    with pytest.raises(Exception, match="cloud"):
        onboard_tenant(**params("contoso-cloud.example.com", app_blocks, embedded, cloud="mars"))


def test_offboarding_removes_the_block_and_keeps_or_purges_data(
    embedded: Any,
    tenant_factory: Any,
    hook: WebhookReceiver,
    hook_block: str,
) -> None:
    from sqlalchemy import func, select

    from blocks.m365 import M365Tenant
    from flows.onboarding import offboard_tenant
    from mailwarden.store.models import DirectoryObject
    from mailwarden.store.repositories import get_tenant, upsert_tenant
    from tasks.common import store_for

    def connected() -> tuple[Any, Any]:
        block, tenant = tenant_factory(consent="basic")
        block.save(block.block_name, overwrite=True)
        with store_for(None).session() as s:
            upsert_tenant(s, tenant.id, tenant.domain, block_name=block.block_name, consent_state="ready")
            s.add(DirectoryObject(tenant_id=tenant.id, object_id="u1", kind="user"))
        return block, tenant

    def rows(tid: str) -> int:
        with store_for(None).session() as s:
            return s.scalar(
                select(func.count()).select_from(DirectoryObject).where(DirectoryObject.tenant_id == tid)
            )

    kept_block, kept = connected()
    hook.received.clear()
    offboard_tenant(kept_block.block_name, purge_data=False, notify_target=hook_block)
    with pytest.raises(ValueError):
        M365Tenant.load(kept_block.block_name)
    assert rows(kept.id) == 1
    with store_for(None).session() as s:
        assert get_tenant(s, kept.id).offboarded_at is not None  # type: ignore[union-attr]
    assert hook.event.wait(5) and "kept" in hook.received[-1]["text"]

    gone_block, gone = connected()
    offboard_tenant(gone_block.block_name, purge_data=True)
    assert rows(gone.id) == 0
    with store_for(None).session() as s:
        assert get_tenant(s, gone.id) is not None  # the registry keeps who was connected

    with pytest.raises(ValueError, match="onboard it first"):
        offboard_tenant("never-connected.example.com")


@pytest.fixture
def scheduled_deployments() -> Iterator[list[str]]:
    """The catalogue's deployments that have a cron, on the server as ``deployments/serve.py`` puts them."""
    from prefect.client.orchestration import get_client

    from deployments.serve import build_deployments
    from tasks.catalog import CATALOG

    names = [item.name for item in CATALOG if item.cron]
    for deployment in build_deployments(tenants=[], only=names):
        deployment.apply()
    yield names
    with get_client(sync_client=True) as client:
        for name in names:
            client.delete_deployment(client.read_deployment_by_name(f"{name}/{name}").id)


def test_onboarding_schedules_the_tenant_once_and_offboarding_unschedules_it(
    embedded: Any,
    tenant_factory: Any,
    app_blocks: dict[str, str],
    fast_readiness: dict[str, Any],
    scheduled_deployments: list[str],
) -> None:
    from prefect.client.orchestration import get_client

    from flows.onboarding import offboard_tenant, onboard_tenant
    from tasks.catalog import SCHEDULE_TIMEZONE, spec

    def schedules(block_name: str) -> dict[str, list[Any]]:
        with get_client(sync_client=True) as client:
            found = {}
            for name in scheduled_deployments:
                deployment = client.read_deployment_by_name(f"{name}/{name}")
                found[name] = [s for s in client.read_deployment_schedules(deployment.id)
                               if s.parameters == {"tenant": block_name}]
        return found

    _, tenant = tenant_factory(consent=None)
    seen = artifact_ids(key_for(tenant.domain))
    run = Run(onboard_tenant, **params(tenant.domain, app_blocks, embedded))
    browse(consent_url_from_artifact(key_for(tenant.domain), seen, run), embedded.ca_file)
    state = run.wait()
    assert state.is_completed(), state
    block_name = state.result()["block_name"]
    found = schedules(block_name)
    for name, mine in found.items():
        assert len(mine) == 1, (name, mine)
        assert mine[0].schedule.cron == spec(name).cron and mine[0].schedule.timezone == SCHEDULE_TIMEZONE

    again = onboard_tenant(**params(tenant.domain, app_blocks, embedded))  # connected: readiness only
    assert again["consented"] == []
    assert {name: [s.id for s in mine] for name, mine in schedules(block_name).items()} == {
        name: [s.id for s in mine] for name, mine in found.items()
    }

    offboard_tenant(block_name)
    assert all(mine == [] for mine in schedules(block_name).values())
