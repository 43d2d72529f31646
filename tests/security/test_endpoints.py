"""Microsoft's hosts are pinned per cloud (issue 16, attack 1), tried as an attacker who can start runs.

Each test points mailwarden at a stand-in host (a loopback listener that records every byte) the
ways such an attacker could -- ``onboard-tenant``'s ``apps.connection`` overrides, a Prefect
Variable, a tenant block saved with the old override fields -- and asserts the stand-in heard
nothing: no token request, so neither the shared app's client id nor its secret left for it.
Only the server's settings (``MAILWARDEN_SANDBOX_URL``, loopback https) move the hosts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest

from mailwarden.settings import overridden_settings
from tests.conftest import consent_callback, save_app_blocks
from tests.security._standin import StandIn
from tests.system._support import admin_consents, call_back, consent_url, in_thread, onboard_params

pytestmark = pytest.mark.usefixtures("prefect_harness")

CONNECTION_VARIABLES = ("mailwarden_connection", "mailwarden-sandbox-connection")


@pytest.fixture(scope="module")
def callback(embedded: Any, prefect_harness: None) -> Iterator[Any]:
    with consent_callback(embedded) as srv:
        yield srv


@pytest.fixture(scope="module")
def app_blocks(embedded: Any, callback: Any) -> dict[str, str]:
    return save_app_blocks(embedded, callback, "sec-ep")


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    with StandIn() as host:
        yield host


def _elsewhere(host: StandIn, ca_file: str) -> dict[str, str]:
    """What the attacker would send: every host moved to the stand-in, with a CA file to trust."""
    return {"login_url": host.url, "graph_url": host.url, "exchange_url": host.url, "ca_file": ca_file}


def _apps(blocks: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"basic_app_block": blocks["basic"], "advanced_app_block": blocks["advanced"],
            "first_sync_deployment": None, "consent_poll_seconds": 1, **extra}


def _assert_no_block(domain: str) -> None:
    from blocks.m365 import M365Tenant, tenant_block_name

    with pytest.raises(ValueError):
        M365Tenant.load(tenant_block_name(domain))


@pytest.fixture
def connection_variables(stand_in: StandIn, embedded: Any) -> Iterator[None]:
    """The Prefect Variables the old code read host overrides from, pointing at the stand-in."""
    from prefect.variables import Variable

    for name in CONNECTION_VARIABLES:
        Variable.set(name, _elsewhere(stand_in, embedded.ca_file), overwrite=True)
    yield
    for name in CONNECTION_VARIABLES:
        Variable.unset(name)


@pytest.mark.parametrize("how", ["inline", "variable"])
def test_onboarding_with_host_overrides_is_refused_and_the_stand_in_hears_nothing(
    how: str, embedded: Any, tenant_factory: Any, app_blocks: dict[str, str], stand_in: StandIn,
    connection_variables: None,
) -> None:
    """``apps.connection`` (or ``apps.connection_variable``) is an unknown field: a validation error
    before any task runs, no consent link, no block, and not one byte to the stand-in host."""
    from flows.onboarding import onboard_tenant

    _, state = tenant_factory(users=10, consent="basic")  # consented already: readiness would ask for a token
    attack = ({"connection": _elsewhere(stand_in, embedded.ca_file)} if how == "inline"
              else {"connection_variable": CONNECTION_VARIABLES[0]})
    with pytest.raises(Exception, match=r"(?s)apps\.connection.*Extra inputs are not permitted"):
        cast(Any, onboard_tenant)(tenant=state.domain, apps=_apps(app_blocks, **attack), consent_timeout_minutes=0.1,
                       readiness={"limit_seconds": 2, "initial_delay": 0.5, "max_delay": 1})
    assert stand_in.heard() == b"" and stand_in.connections == 0
    _assert_no_block(state.domain)


def test_a_run_started_through_the_api_with_host_overrides_is_refused_by_the_server(
    embedded: Any, tenant_factory: Any, app_blocks: dict[str, str], stand_in: StandIn,
) -> None:
    """The deployment's parameter schema forbids unknown fields: the Prefect server itself refuses to
    create the run, so no worker ever picks it up."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.deployments import run_deployment

    from flows.onboarding import onboard_tenant

    name = f"sec-endpoints-{uuid.uuid4().hex[:6]}"
    deployment_id = cast(Any, onboard_tenant.to_deployment(name=name)).apply()
    _, state = tenant_factory(users=10, consent="basic")
    try:
        with pytest.raises(Exception, match=r"(?i)validation"):
            run_deployment(f"onboard-tenant/{name}", timeout=0, parameters={
                "tenant": state.domain, "apps": _apps(app_blocks, connection=_elsewhere(stand_in, embedded.ca_file))})
        with get_client(sync_client=True) as client:
            mine = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            runs = client.read_flow_runs(deployment_filter=mine)
        assert runs == []
    finally:
        with get_client(sync_client=True) as client:
            client.delete_deployment(deployment_id)
    assert stand_in.heard() == b"" and stand_in.connections == 0


def test_a_connection_variable_changes_nothing(
    embedded: Any, tenant_factory: Any, callback: Any, app_blocks: dict[str, str], stand_in: StandIn,
    connection_variables: None,
) -> None:
    """With the old Variables pointing at the stand-in, onboarding still talks only to the configured
    sandbox, and the tenant's block carries no host at all."""
    from blocks.m365 import M365Tenant
    from flows.onboarding import onboard_tenant

    _, state = tenant_factory(users=10, consent=None)
    thread, box = in_thread(onboard_tenant, **onboard_params(state.domain, app_blocks, embedded))
    page = call_back(admin_consents(consent_url(state.domain, "basic", thread), embedded.ca_file))
    assert page.status_code == 200, page.text
    thread.join(90)
    assert not thread.is_alive() and box["state"].is_completed(), box.get("state")
    block = cast(M365Tenant, M365Tenant.load(box["state"].result()["block_name"]))
    assert block.endpoints().login_url == block.endpoints().graph_url == embedded.url
    assert stand_in.heard() == b"" and stand_in.connections == 0


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://login.elsewhere.example", "loopback"),
        ("https://10.0.0.8:8443", "loopback"),
        ("https://127.0.0.1.elsewhere.example", "loopback"),
        ("https://[::2]:8443", "loopback"),
        ("http://127.0.0.1:8443", "https"),
        ("HTTP://localhost:8443", "https"),
        ("ftp://127.0.0.1", "https"),
        ("https://user:pw@127.0.0.1:8443", "user info"),
        ("https://user@127.0.0.1:8443", "user info"),
        ("https://127.0.0.1:8443/?next=x", "query"),
        ("https://127.0.0.1:8443/#x", "fragment"),
        ("https://127.0.0.1:99999", "port"),
        ("127.0.0.1:8443", "https"),
    ],
)
def test_endpoints_for_refuses_every_override_but_https_on_loopback(url: str, why: str) -> None:
    from mailwarden.graph import endpoints_for

    for field in ("login_url", "graph_url", "exchange_url"):
        with pytest.raises(ValueError, match=why):
            endpoints_for("global", **{field: url})


@pytest.mark.parametrize("url", ["https://127.0.0.1:8443", "https://127.5.6.7:1", "https://[::1]:8443",
                                 "https://localhost:8443/", "https://LOCALHOST:8443"])
def test_endpoints_for_takes_https_on_loopback(url: str) -> None:
    from mailwarden.graph import endpoints_for

    ep = endpoints_for("global", login_url=url, graph_url=url, exchange_url=url)
    assert ep.graph_url == url.rstrip("/") and ep.graph_resource == "https://graph.microsoft.com"


def test_a_sandbox_setting_beyond_loopback_is_refused_before_any_request(
    tenant_factory: Any, stand_in: StandIn,
) -> None:
    """Even the server setting cannot send a tenant's traffic off the machine: clients refuse to build."""
    block, _ = tenant_factory(users=10, consent="basic")
    for url in (f"https://stand-in.example:{stand_in.port}", f"http://127.0.0.1:{stand_in.port}"):
        with overridden_settings(MAILWARDEN_SANDBOX_URL=url):
            with pytest.raises(ValueError, match=r"loopback|https"):
                block.graph_client()
            with pytest.raises(ValueError, match=r"loopback|https"):
                block.exchange_client()
    assert stand_in.heard() == b"" and stand_in.connections == 0


def test_without_a_sandbox_setting_every_tenant_goes_to_microsoft_with_system_trust(tenant_factory: Any) -> None:
    block, _ = tenant_factory(users=10, consent="basic")
    with overridden_settings(MAILWARDEN_SANDBOX_URL=None, MAILWARDEN_SANDBOX_CA_FILE=None):
        ep = block.endpoints()
        assert (ep.login_url, ep.graph_url, ep.exchange_url) == (
            "https://login.microsoftonline.com", "https://graph.microsoft.com", "https://outlook.office365.com")
        assert block.ca_file is None
    with overridden_settings(MAILWARDEN_SANDBOX_URL=None):  # a CA file alone trusts nothing instead of Microsoft
        assert block.ca_file is None


def test_an_old_tenant_block_with_override_fields_loads_and_its_clients_go_to_the_sandbox(
    embedded: Any, tenant_factory: Any, stand_in: StandIn,
) -> None:
    """A block document written (through the Prefect API) with the old ``login_url`` ... ``ca_file``
    pointing at the stand-in loads, ignores them, and its clients reach the configured sandbox."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import BlockDocumentCreate

    from blocks.m365 import M365Tenant

    block, state = tenant_factory(users=10, consent="basic")
    probe = f"sec-old-{uuid.uuid4().hex[:6]}"
    block.save(probe, overwrite=True)
    name = f"sec-old-{uuid.uuid4().hex[:6]}"
    with get_client(sync_client=True) as client:
        saved = client.read_block_document_by_name(probe, block_type_slug="m365-tenant", include_secrets=True)
        data = {**saved.data, **_elsewhere(stand_in, embedded.ca_file)}
        client.create_block_document(BlockDocumentCreate(
            name=name, data=data, block_schema_id=saved.block_schema_id, block_type_id=saved.block_type_id))
        stored = client.read_block_document_by_name(name, block_type_slug="m365-tenant", include_secrets=True)
    assert stored.data["login_url"] == stand_in.url  # the attacker's fields really are in the document

    old = cast(M365Tenant, M365Tenant.load(name))
    assert old.tenant_id == state.id
    assert old.endpoints().login_url == old.endpoints().exchange_url == embedded.url
    with old.graph_client() as graph:
        assert graph.get("/organization")["value"][0]["id"] == state.id
    with old.exchange_client() as exchange:
        assert isinstance(exchange.invoke("Get-Mailbox"), list)
    assert stand_in.heard() == b"" and stand_in.connections == 0

    old.save(name, overwrite=True)  # saved again (Prefect keeps a document's unknown keys): still ignored
    again = cast(M365Tenant, M365Tenant.load(name))
    assert again.endpoints().login_url == embedded.url and again.ca_file == embedded.ca_file
    with again.graph_client() as graph:
        graph.get("/organization")
    assert stand_in.heard() == b"" and stand_in.connections == 0
