"""Exchange admin API: InvokeCommand cmdlets, paging, error shape, audience and tenant checks."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from m365sandbox import Sandbox, SandboxServer
from tests.conftest import TENANT_A, TENANT_B, get_token

EXO = "https://outlook.office365.com"
ALICE = "aaaaaaaa-u001-4000-8000-000000000000"
BOB = "aaaaaaaa-u002-4000-8000-000000000000"


@pytest.fixture
def exo(sb: Sandbox, server: SandboxServer) -> Iterator[httpx.Client]:
    token = get_token(server, TENANT_A, EXO).json()["access_token"]
    with httpx.Client(base_url=server.url, verify=server.ca_file, trust_env=False,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


def invoke(c: httpx.Client, cmdlet: str, params: dict | None = None, tenant: str = TENANT_A,
           **kw: object) -> httpx.Response:
    return c.post(f"/adminapi/beta/{tenant}/InvokeCommand",
                  json={"CmdletInput": {"CmdletName": cmdlet, "Parameters": params or {}}}, **kw)


def test_get_mailbox_lists_mailboxes_with_cmdlet_fields(exo: httpx.Client) -> None:
    rows = invoke(exo, "Get-Mailbox", {"ResultSize": "Unlimited"}).json()["value"]
    assert {r["RecipientTypeDetails"] for r in rows} == {"UserMailbox", "SharedMailbox"}
    bob = next(r for r in rows if r["ExternalDirectoryObjectId"] == BOB)
    for key in ("Identity", "Name", "Alias", "DisplayName", "PrimarySmtpAddress", "EmailAddresses", "Guid",
                "UserPrincipalName", "ForwardingAddress", "DeliverToMailboxAndForward"):
        assert key in bob
    assert bob["ForwardingSmtpAddress"] == "smtp:drop@evil.example"
    assert bob["EmailAddresses"][0] == "SMTP:bob@contoso.example"


def test_get_mailbox_by_alias_address_and_missing_identity_error(exo: httpx.Client) -> None:
    row = invoke(exo, "Get-Mailbox", {"Identity": "alice.alias@contoso.example"}).json()["value"][0]
    assert row["ExternalDirectoryObjectId"] == ALICE
    err = invoke(exo, "Get-Mailbox", {"Identity": "ghost@contoso.example"})
    assert err.status_code == 404
    detail = err.json()["error"]["details"][0]["message"]
    assert "ManagementObjectNotFoundException" in detail and "ghost@contoso.example" in detail
    assert "ghost" in err.json()["error"]["innererror"]["internalException"]["message"]


def test_get_inbox_rule_shows_hidden_rules_only_when_asked(exo: httpx.Client) -> None:
    visible = invoke(exo, "Get-InboxRule", {"Mailbox": "alice@contoso.example"}).json()["value"]
    assert [r["Name"] for r in visible] == ["Move invoices"]
    rule = visible[0]
    assert rule["ForwardTo"] == ['"X" [SMTP:x@evil.example]'] and rule["MarkAsRead"] is True
    assert rule["SubjectContainsWords"] == ["invoice"] and rule["MailboxOwnerId"] == "alice"
    assert rule["Identity"] == f"alice\\{rule['RuleIdentity']}" and "forward" in rule["Description"]
    both = invoke(exo, "Get-InboxRule", {"Mailbox": "alice@contoso.example", "IncludeHidden": True}).json()
    assert len(both["value"]) == 2 and both["value"][1]["DeleteMessage"] is True


def test_disable_and_remove_inbox_rules(exo: httpx.Client, sb: Sandbox) -> None:
    rules = invoke(exo, "Get-InboxRule", {"Mailbox": ALICE}).json()["value"]
    disabled = invoke(exo, "Disable-InboxRule", {"Mailbox": ALICE, "Identity": rules[0]["Identity"]})
    assert disabled.status_code == 200
    assert sb.tenant(TENANT_A).mailboxes[ALICE].rules["AQAAAJ5dZqA="]["isEnabled"] is False
    assert invoke(exo, "Remove-InboxRule", {"Identity": "alice\\9999", "Confirm": False}).status_code == 200
    assert sb.tenant(TENANT_A).mailboxes[ALICE].hidden_rules == []
    again = invoke(exo, "Remove-InboxRule", {"Mailbox": ALICE, "Identity": "9999"})
    assert again.status_code == 404


def test_set_mailbox_clears_forwarding(exo: httpx.Client) -> None:
    r = invoke(exo, "Set-Mailbox", {"Identity": BOB, "ForwardingSmtpAddress": None, "ForwardingAddress": None,
                                    "DeliverToMailboxAndForward": False})
    assert r.status_code == 200
    row = invoke(exo, "Get-Mailbox", {"Identity": BOB}).json()["value"][0]
    assert row["ForwardingSmtpAddress"] is None and row["DeliverToMailboxAndForward"] is False


def test_distribution_groups_and_members(exo: httpx.Client) -> None:
    groups = invoke(exo, "Get-DistributionGroup").json()["value"]
    assert [g["PrimarySmtpAddress"] for g in groups] == ["sales@contoso.example"]
    members = invoke(exo, "Get-DistributionGroupMember",
                     {"Identity": "sales@contoso.example"}).json()["value"]
    assert {m["ExternalDirectoryObjectId"] for m in members} == {ALICE, BOB}


def test_paging_honours_prefer_maxpagesize(exo: httpx.Client, server: SandboxServer) -> None:
    first = invoke(exo, "Get-Recipient", headers={"Prefer": "odata.maxpagesize=2"}).json()
    assert len(first["value"]) == 2 and first["@odata.nextLink"].startswith(server.url)
    seen = list(first["value"])
    body = first
    while "@odata.nextLink" in body:
        body = exo.post(body["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=2"},
                        json={"CmdletInput": {"CmdletName": "Get-Recipient", "Parameters": {}}}).json()
        seen += body["value"]
    assert len({r["ExternalDirectoryObjectId"] for r in seen}) == len(seen) == 6


def test_unknown_cmdlet_and_parameter_are_400(exo: httpx.Client) -> None:
    r = invoke(exo, "Remove-Mailbox", {"Identity": ALICE})
    assert r.status_code == 400 and "not recognized" in r.json()["error"]["details"][0]["message"]
    assert invoke(exo, "Get-Mailbox", {"Bogus": 1}).status_code == 400


def test_graph_token_is_refused_by_exchange(graph: httpx.Client, server: SandboxServer) -> None:
    r = graph.post(f"{server.url}/adminapi/beta/{TENANT_A}/InvokeCommand",
                   json={"CmdletInput": {"CmdletName": "Get-Mailbox"}})
    assert r.status_code == 401


def test_token_for_tenant_a_is_refused_on_tenant_b_path(exo: httpx.Client) -> None:
    r = invoke(exo, "Get-Mailbox", tenant=TENANT_B)
    assert r.status_code == 401
    assert invoke(exo, "Get-Mailbox", tenant="contoso.example").status_code == 200


def test_exchange_needs_manage_as_app_role(sb: Sandbox, server: SandboxServer) -> None:
    sb.register_app("22222222-0000-0000-0000-000000000000", secret="s3cret-value-2",
                    tiers={"basic": ["User.Read.All"]})
    sb.grant_consent(TENANT_A, "22222222-0000-0000-0000-000000000000", "basic")
    with httpx.Client(verify=server.ca_file, trust_env=False) as c:
        tok = c.post(f"{server.url}/{TENANT_A}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": "22222222-0000-0000-0000-000000000000",
            "client_secret": "s3cret-value-2", "scope": f"{EXO}/.default"}).json()["access_token"]
        r = c.post(f"{server.url}/adminapi/beta/{TENANT_A}/InvokeCommand",
                   headers={"Authorization": f"Bearer {tok}"},
                   json={"CmdletInput": {"CmdletName": "Get-Mailbox"}})
    assert r.status_code == 403


def test_paging_serves_later_pages_from_the_first_pages_result_set(exo: httpx.Client, sb: Sandbox) -> None:
    first = invoke(exo, "Get-Recipient", headers={"Prefer": "odata.maxpagesize=2"}).json()
    t = sb.find_tenant(TENANT_A)
    assert t is not None
    with t.lock:  # a recipient of the first page disappears while the client pages on
        t.recipients.pop(first["value"][0]["ExternalDirectoryObjectId"])
    seen, body = list(first["value"]), first
    while "@odata.nextLink" in body:
        body = exo.post(body["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=2"},
                        json={"CmdletInput": {"CmdletName": "Get-Recipient", "Parameters": {}}}).json()
        seen += body["value"]
    assert len({r["ExternalDirectoryObjectId"] for r in seen}) == len(seen) == 6


def test_get_recipient_by_object_id_upn_and_alias(exo: httpx.Client) -> None:
    for ref in (BOB, "bob@contoso.example", "BOB@CONTOSO.EXAMPLE"):
        rows = invoke(exo, "Get-Recipient", {"Identity": ref}).json()["value"]
        assert [r["ExternalDirectoryObjectId"] for r in rows] == [BOB]
    assert invoke(exo, "Get-Recipient", {"Identity": "nobody@contoso.example"}).status_code == 404
