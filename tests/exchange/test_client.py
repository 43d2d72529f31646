"""ExchangeClient: InvokeCommand shape, paging, warnings, error extraction, tenant pinning, helpers."""

from __future__ import annotations

import httpx
import pytest
from graph._support import FakeAuth, FakeSleep, Recorder, body_of, never_called, reply

from mailwarden.exchange import ExchangeClient
from mailwarden.graph import (
    Forbidden,
    GraphStatusError,
    HostNotAllowed,
    NotFound,
    RetryPolicy,
    ServiceUnavailable,
    endpoints_for,
)

TENANT = "0b6f1c9e-3a3b-4c3c-8d8d-0123456789ab"
BASE = f"https://outlook.office365.com/adminapi/beta/{TENANT}/InvokeCommand"


def make(handler, *, sleep: FakeSleep | None = None, endpoints=None, tenant: str = TENANT) -> ExchangeClient:
    return ExchangeClient(
        tenant,
        endpoints or endpoints_for("global"),
        FakeAuth(),
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(sleep=sleep or FakeSleep(), random=lambda: 1.0),
    )


def rows(*names: str, **extra):
    return reply(200, {"@odata.context": "ctx", "value": [{"Name": n} for n in names], **extra})


def test_invoke_posts_the_cmdlet_with_anchor_and_page_size_headers() -> None:
    rec = Recorder(lambda r: rows("a"))
    assert make(rec).invoke("Get-Mailbox", {"Identity": "a@contoso.com"}) == [{"Name": "a"}]
    req = rec.requests[0]
    assert req.method == "POST" and str(req.url) == BASE
    assert body_of(req) == {
        "CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"Identity": "a@contoso.com"}}
    }
    assert req.headers["Prefer"] == "odata.maxpagesize=1000"
    assert (
        req.headers["X-AnchorMailbox"]
        == f"APP:SystemMailbox{{bb558c35-97f1-4cb9-8ff7-d53741dc928c}}@{TENANT}"
    )
    assert req.headers["Authorization"] == "Bearer test-token"


def test_invoke_follows_next_links_with_the_same_body() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "skiptoken" not in str(request.url):
            return rows("a", "b", **{"@odata.nextLink": f"{BASE}?$skiptoken=p2"})
        return rows("c")

    rec = Recorder(handler)
    assert [r["Name"] for r in make(rec).iter_invoke("Get-Recipient", {"ResultSize": "Unlimited"})] == [
        "a",
        "b",
        "c",
    ]
    assert len(rec.requests) == 2
    assert body_of(rec.requests[1]) == body_of(rec.requests[0])
    assert rec.requests[1].headers["X-AnchorMailbox"].endswith(TENANT)


def test_a_repeated_next_link_stops_paging() -> None:
    rec = Recorder(lambda r: rows("a", **{"@odata.nextLink": f"{BASE}?$skiptoken=same"}))
    assert len(make(rec).invoke("Get-Mailbox")) == 2
    assert len(rec.requests) == 2


def test_next_link_to_another_tenant_is_refused() -> None:
    other = BASE.replace(TENANT, "fabrikam.onmicrosoft.com")
    rec = Recorder(lambda r: rows("a", **{"@odata.nextLink": f"{other}?$skiptoken=x"}))
    with pytest.raises(ValueError, match="refusing"):
        make(rec).invoke("Get-Mailbox")
    assert len(rec.requests) == 1


def test_next_link_to_a_foreign_host_is_refused() -> None:
    rec = Recorder(
        lambda r: rows("a", **{"@odata.nextLink": "https://evil.example/adminapi/beta/x/InvokeCommand"})
    )
    with pytest.raises(HostNotAllowed):
        make(rec).invoke("Get-Mailbox")


def test_explicitly_targeting_another_tenant_is_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="refusing"):
        make(never_called).invoke("Get-Mailbox", tenant_id="fabrikam.onmicrosoft.com")
    assert make(lambda r: rows()).invoke("Get-Mailbox", tenant_id=TENANT.upper()) == []


@pytest.mark.parametrize("cmdlet", ["", "Get-Mailbox; rm", "GetMailbox", "Get-Mailbox -Identity x"])
def test_bad_cmdlet_names_are_rejected_before_sending(cmdlet) -> None:
    with pytest.raises(ValueError):
        make(never_called).invoke(cmdlet)


def test_bad_tenant_is_rejected_before_sending() -> None:
    with pytest.raises(ValueError):
        make(never_called, tenant="not a tenant")


def test_warnings_are_logged(caplog) -> None:
    rec = Recorder(
        lambda r: rows("a", **{"@adminapi.warnings": ["The command completed but nothing changed"]})
    )
    with caplog.at_level("WARNING"):
        make(rec).invoke("Set-Mailbox", {"Identity": "a"})
    assert "nothing changed" in caplog.text


def exo_error(status: int, error: dict) -> httpx.Response:
    return httpx.Response(status, json={"error": error}, headers={"request-id": "exo-rid"})


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            {
                "code": "BadRequest",
                "message": "Error executing cmdlet",
                "details": [{"code": "Context", "message": "Ex1A2B3C|Some.Exception|details text"}],
                "innererror": {"internalException": {"message": "inner text"}},
            },
            "Ex1A2B3C|Some.Exception|details text",
        ),
        (
            {
                "code": "BadRequest",
                "message": "Error executing cmdlet",
                "innererror": {"internalException": {"message": "inner text"}},
            },
            "inner text",
        ),
        ({"code": "BadRequest", "message": "plain text"}, "plain text"),
    ],
)
def test_error_message_comes_from_the_most_specific_field(error, message) -> None:
    with pytest.raises(GraphStatusError) as info:
        make(lambda r: exo_error(400, error)).invoke("Get-Mailbox")
    assert info.value.message == message and info.value.status == 400
    assert info.value.request_id == "exo-rid"


def test_object_not_found_maps_to_not_found() -> None:
    error = {
        "code": "BadRequest",
        "message": "Error executing cmdlet",
        "details": [
            {
                "message": "Ex6F9304|Microsoft.Exchange.Configuration.Tasks."
                "ManagementObjectNotFoundException|The operation couldn't be performed "
                "because object 'x' couldn't be found"
            }
        ],
    }
    with pytest.raises(NotFound):
        make(lambda r: exo_error(400, error)).get_mailbox("x")


def test_forbidden_and_retried_5xx() -> None:
    with pytest.raises(Forbidden):
        make(lambda r: exo_error(403, {"code": "Forbidden", "message": "role missing"})).invoke("Get-Mailbox")
    sleep = FakeSleep()
    with pytest.raises(ServiceUnavailable):
        make(lambda r: exo_error(503, {"code": "x", "message": "busy"}), sleep=sleep).invoke("Get-Mailbox")
    assert len(sleep.delays) == 5  # max_attempts 6


def test_429_retry_after_is_honoured() -> None:
    sleep = FakeSleep()
    answers = iter([httpx.Response(429, headers={"Retry-After": "11"}), rows("a")])
    assert make(lambda r: next(answers), sleep=sleep).invoke("Get-Mailbox") == [{"Name": "a"}]
    assert sleep.delays == [11.0]


def test_client_uses_the_cloud_exchange_host() -> None:
    rec = Recorder(lambda r: rows())
    make(rec, endpoints=endpoints_for("usgov-dod")).invoke("Get-Mailbox")
    assert rec.requests[0].url.host == "webmail.apps.mil"


@pytest.mark.parametrize(
    ("call", "cmdlet", "params"),
    [
        (lambda c: c.get_mailboxes(), "Get-Mailbox", {"ResultSize": "Unlimited"}),
        (lambda c: c.get_recipients(), "Get-Recipient", {"ResultSize": "Unlimited"}),
        (
            lambda c: c.get_inbox_rules("a@x.com"),
            "Get-InboxRule",
            {"Mailbox": "a@x.com", "IncludeHidden": True},
        ),
        (
            lambda c: c.get_inbox_rules("a@x.com", include_hidden=False),
            "Get-InboxRule",
            {"Mailbox": "a@x.com"},
        ),
        (
            lambda c: c.remove_inbox_rule("a@x.com", "r1"),
            "Remove-InboxRule",
            {"Mailbox": "a@x.com", "Identity": "r1"},
        ),
        (
            lambda c: c.disable_inbox_rule("a@x.com", "r1"),
            "Disable-InboxRule",
            {"Mailbox": "a@x.com", "Identity": "r1"},
        ),
        (
            lambda c: c.disable_mailbox_forwarding("a@x.com"),
            "Set-Mailbox",
            {
                "Identity": "a@x.com",
                "ForwardingSmtpAddress": None,
                "ForwardingAddress": None,
                "DeliverToMailboxAndForward": False,
            },
        ),
        (lambda c: c.get_distribution_groups(), "Get-DistributionGroup", {"ResultSize": "Unlimited"}),
        (
            lambda c: c.get_distribution_group_members("dl1"),
            "Get-DistributionGroupMember",
            {"Identity": "dl1", "ResultSize": "Unlimited"},
        ),
    ],
)
def test_helpers_send_the_right_cmdlet_and_parameters(call, cmdlet, params) -> None:
    rec = Recorder(lambda r: rows("a"))
    call(make(rec))
    assert body_of(rec.requests[0]) == {"CmdletInput": {"CmdletName": cmdlet, "Parameters": params}}


def test_get_mailbox_returns_the_row_and_empty_is_not_found() -> None:
    assert make(lambda r: rows("a")).get_mailbox("a") == {"Name": "a"}
    with pytest.raises(NotFound):
        make(lambda r: rows()).get_mailbox("ghost")


@pytest.mark.parametrize(
    "call",
    [lambda c: c.get_inbox_rules(""), lambda c: c.remove_inbox_rule("a", " "), lambda c: c.get_mailbox("")],
)
def test_helpers_reject_empty_identities_before_sending(call) -> None:
    with pytest.raises(ValueError):
        call(make(never_called))
