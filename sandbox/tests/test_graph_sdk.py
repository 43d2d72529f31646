"""Requests as Microsoft's Graph SDKs send them, answered as Graph answers them.

- the delta function in its call form (``delta()``, also ``microsoft.graph.delta[()]``) on users,
  groups and a folder's messages, with next and delta links that keep the form the client sent;
- ``GET /users/{id}/mailboxSettings`` and ``.../mailboxSettings/{property}``;
- ``GET /users/$count``, ``/groups/$count`` (and a group's members): text, advanced queries only.

Every body is checked against Microsoft's v1.0 CSDL: property names exist on their types and
values fit the declared types (``tests.shapes``).
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from m365sandbox import Sandbox, SandboxServer
from m365sandbox.mail import MailboxState
from m365sandbox.mail.model import default_settings
from m365sandbox.seed import MailboxSeed
from tests.conftest import TENANT_A
from tests.csdl import load_schema, needs_schema
from tests.shapes import type_errors

pytestmark = needs_schema

ALICE = "aaaaaaaa-u001-4000-8000-000000000000"
BOB = "aaaaaaaa-u002-4000-8000-000000000000"
FINANCE = "aaaaaaaa-u004-4000-8000-000000000000"
G_OUTER = "aaaaaaaa-g001-4000-8000-000000000000"
GRAPH = "https://graph.microsoft.com"
LIMITED_ID = "22222222-3333-4444-5555-666666666666"
LIMITED_SECRET = "limited-app-secret-value"
DELTA_FORMS = ["delta()", "microsoft.graph.delta()", "microsoft.graph.delta", "delta"]


def _error(r: httpx.Response) -> tuple[int, str, str]:
    err = r.json()["error"]
    assert {"date", "request-id", "client-request-id"} <= set(err["innerError"])
    return r.status_code, err["code"], err["message"]


@pytest.fixture
def limited(sb: Sandbox, server: SandboxServer) -> Iterator[httpx.Client]:
    """A Graph client of an app consented with ``Mail.ReadWrite`` only."""
    sb.register_app(LIMITED_ID, secret=LIMITED_SECRET, tiers={"mail": ["Mail.ReadWrite"]})
    sb.grant_consent(TENANT_A, LIMITED_ID, "mail")
    with httpx.Client(verify=server.ca_file, trust_env=False) as c:
        token = c.post(f"{server.url}/{TENANT_A}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": LIMITED_ID, "client_secret": LIMITED_SECRET,
            "scope": f"{GRAPH}/.default"}).json()["access_token"]
    with httpx.Client(base_url=f"{server.url}/v1.0", verify=server.ca_file, trust_env=False,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


def _round(graph: httpx.Client, path: str, **kw: object) -> tuple[list[dict], list[str], str]:
    """Every page of a delta round: (items, next links followed, the delta link)."""
    body = graph.get(path, **kw).json()  # type: ignore[arg-type]
    items, nexts = list(body["value"]), []
    while "@odata.nextLink" in body:
        nexts.append(body["@odata.nextLink"])
        body = graph.get(body["@odata.nextLink"], headers=kw.get("headers")).json()  # type: ignore[arg-type]
        items += body["value"]
    return items, nexts, body["@odata.deltaLink"]


# -- the delta function ----------------------------------------------------------------------


def test_delta_is_a_bound_function_of_each_served_collection() -> None:
    schema = load_schema()
    for path in ("users/delta", "groups/delta", "users/{id}/mailFolders/{id}/messages/delta"):
        assert schema.has_path(path), path
    assert not schema.has_path("users/{id}/mailFolders/{id}/messages/notAFunction")


@pytest.mark.parametrize("form", DELTA_FORMS)
def test_users_delta_links_keep_the_form_the_client_sent(graph: httpx.Client, server: SandboxServer,
                                                         form: str) -> None:
    schema = load_schema()
    prefer = {"Prefer": "odata.maxpagesize=3"}
    items, nexts, delta_link = _round(graph, f"/users/{form}", headers=prefer)
    plain, _, _ = _round(graph, "/users/delta")
    assert sorted(u["id"] for u in items) == sorted(u["id"] for u in plain) and len(items) == 4
    assert nexts and all(link.startswith(f"{server.url}/v1.0/users/{form}?$skiptoken=") for link in nexts)
    assert delta_link.startswith(f"{server.url}/v1.0/users/{form}?$deltatoken=")
    assert all(schema.unknown_properties("user", u) == set() for u in items)
    assert graph.patch(f"/users/{BOB}", json={"jobTitle": "Auditor"}).status_code == 204
    changed = graph.get(delta_link).json()
    assert [(u["id"], u["jobTitle"]) for u in changed["value"]] == [(BOB, "Auditor")]
    assert changed["@odata.deltaLink"].startswith(f"{server.url}/v1.0/users/{form}?$deltatoken=")


def test_groups_delta_function_form_tracks_members(graph: httpx.Client, server: SandboxServer) -> None:
    schema = load_schema()
    items, _, delta_link = _round(graph, "/groups/delta()", params={"$select": "displayName,members"})
    assert len(items) == 3 and all(schema.unknown_properties("group", g) == set() for g in items)
    outer = next(g for g in items if g["id"] == G_OUTER)
    assert {m["id"] for m in outer["members@delta"]} == {ALICE, "aaaaaaaa-g002-4000-8000-000000000000"}
    assert delta_link.startswith(f"{server.url}/v1.0/groups/delta()?$deltatoken=")


@pytest.mark.parametrize("form", ["delta()", "microsoft.graph.delta()"])
def test_message_delta_function_form_pages_with_links_in_that_form(sb: Sandbox, graph: httpx.Client,
                                                                   server: SandboxServer, form: str) -> None:
    schema = load_schema()
    for n in range(5):
        sb.inject_message(TENANT_A, ALICE, {"subject": f"Report {n}",
                                            "body": {"contentType": "text", "content": "numbers"}})
    path = f"/users/{ALICE}/mailFolders/inbox/messages/{form}"
    items, nexts, delta_link = _round(graph, path, headers={"Prefer": "odata.maxpagesize=2"})
    assert sorted(m["subject"] for m in items) == [f"Report {n}" for n in range(5)]
    assert len(nexts) == 2 and all(urlsplit(link).path == f"/v1.0{path}" for link in nexts)
    assert urlsplit(delta_link).path == f"/v1.0{path}" and "$deltatoken=" in delta_link
    assert all(schema.unknown_properties("message", m) == set() for m in items)
    sb.inject_message(TENANT_A, ALICE, {"subject": "Late", "body": {"contentType": "text", "content": "x"}})
    assert [m["subject"] for m in graph.get(delta_link).json()["value"]] == ["Late"]


# -- mailboxSettings -------------------------------------------------------------------------


def test_mailbox_settings_is_the_users_complex_property() -> None:
    schema = load_schema()
    assert schema.property_types("user")["mailboxSettings"] == "graph.mailboxSettings"
    assert {"automaticRepliesSetting", "archiveFolder", "timeZone", "language", "workingHours",
            "dateFormat", "timeFormat", "delegateMeetingMessageDeliveryOptions", "userPurpose"} \
        == schema.complex_properties("mailboxSettings")


def test_mailbox_settings_answer_in_the_schemas_shape(graph: httpx.Client) -> None:
    schema = load_schema()
    r = graph.get(f"/users/{ALICE}/mailboxSettings")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["@odata.context"] == f"{GRAPH}/v1.0/$metadata#users('{ALICE}')/mailboxSettings"
    assert type_errors(schema, "graph.mailboxSettings", body) == []
    assert {k for k in body if not k.startswith("@")} == schema.complex_properties("mailboxSettings")
    assert body["archiveFolder"] == graph.get(f"/users/{ALICE}/mailFolders/archive").json()["id"]
    assert body["userPurpose"] == "user" and body["automaticRepliesSetting"]["status"] == "disabled"
    assert body["language"]["locale"] == "en-US"  # the user's preferredLanguage


def test_mailbox_settings_by_upn_name_the_user_as_sent(graph: httpx.Client) -> None:
    body = graph.get("/users/alice@contoso.example/mailboxSettings").json()
    assert body["@odata.context"].endswith("#users('alice%40contoso.example')/mailboxSettings")
    assert body["archiveFolder"] == graph.get(f"/users/{ALICE}/mailboxSettings").json()["archiveFolder"]


@pytest.mark.parametrize("name", ["automaticRepliesSetting", "workingHours", "language"])
def test_a_complex_setting_answers_as_an_object(graph: httpx.Client, name: str) -> None:
    schema = load_schema()
    body = graph.get(f"/users/{ALICE}/mailboxSettings/{name}").json()
    assert body["@odata.context"] == f"{GRAPH}/v1.0/$metadata#users('{ALICE}')/mailboxSettings/{name}"
    assert "value" not in body
    assert type_errors(schema, schema.property_types("mailboxSettings")[name], body) == []
    whole = graph.get(f"/users/{ALICE}/mailboxSettings").json()
    assert {k: v for k, v in body.items() if not k.startswith("@")} == whole[name]


@pytest.mark.parametrize("name", ["timeZone", "dateFormat", "timeFormat", "userPurpose", "archiveFolder",
                                  "delegateMeetingMessageDeliveryOptions"])
def test_a_simple_setting_answers_as_a_value(graph: httpx.Client, name: str) -> None:
    schema = load_schema()
    body = graph.get(f"/users/{ALICE}/mailboxSettings/{name}").json()
    assert set(body) == {"@odata.context", "value"}
    assert body["@odata.context"].endswith(f"#users('{ALICE}')/mailboxSettings/{name}")
    assert type_errors(schema, schema.property_types("mailboxSettings")[name], body["value"]) == []
    assert body["value"] == graph.get(f"/users/{ALICE}/mailboxSettings").json()[name]


def test_an_unknown_setting_is_a_bad_segment(graph: httpx.Client) -> None:
    assert _error(graph.get(f"/users/{ALICE}/mailboxSettings/forwardingAddress")) == (
        400, "BadRequest", "Resource not found for the segment 'forwardingAddress'.")


def test_settings_changed_through_the_control_surface_are_served(graph: httpx.Client,
                                                                  server: SandboxServer) -> None:
    reply = {"status": "alwaysEnabled", "externalAudience": "contactsOnly",
             "internalReplyMessage": "<p>Away until Monday</p>"}
    with httpx.Client(verify=server.ca_file, trust_env=False) as c:
        url = f"{server.url}/_sandbox/tenants/{TENANT_A}/mailboxes/{ALICE}/settings"
        assert c.patch(url, json={"automaticRepliesSetting": reply}).status_code == 200
        assert c.patch(url, json={"forwardingSmtpAddress": "x@evil.example"}).status_code == 400
        assert c.patch(f"{server.url}/_sandbox/tenants/{TENANT_A}/mailboxes/nobody/settings",
                       json={}).status_code == 404
    got = graph.get(f"/users/{ALICE}/mailboxSettings/automaticRepliesSetting").json()
    assert {k: got[k] for k in reply} == reply and got["externalReplyMessage"] == ""  # merged, not replaced
    assert type_errors(load_schema(), "graph.automaticRepliesSetting", got) == []


def test_mailbox_settings_need_a_mailbox_settings_permission(limited: httpx.Client) -> None:
    assert limited.get(f"/users/{ALICE}/messages").status_code == 200  # the token itself is good
    for path in (f"/users/{ALICE}/mailboxSettings", f"/users/{ALICE}/mailboxSettings/timeZone",
                 "/users/nobody@contoso.example/mailboxSettings"):
        assert _error(limited.get(path)) == (403, "ErrorAccessDenied",
                                             "Access is denied. Check credentials and try again.")


def test_mailbox_settings_of_an_unknown_user_is_404(graph: httpx.Client) -> None:
    assert _error(graph.get("/users/nobody@contoso.example/mailboxSettings")) == (
        404, "ErrorInvalidUser", "The requested user 'nobody@contoso.example' is invalid.")


def test_an_on_premises_mailbox_has_no_settings_through_graph(sb: Sandbox, graph: httpx.Client) -> None:
    t = sb.tenant(TENANT_A)
    with t.lock:
        t.recipients[BOB]["RecipientTypeDetails"] = "MailUser"  # moved to the on-premises organisation
    for path in (f"/users/{BOB}/mailboxSettings", f"/users/{BOB}/mailboxSettings/timeZone"):
        assert _error(graph.get(path)) == (404, "MailboxNotEnabledForRESTAPI", "The mailbox is either "
                                           "inactive, soft-deleted, or is hosted on-premise.")


def test_a_shared_mailbox_says_so_in_user_purpose(sb: Sandbox, graph: httpx.Client) -> None:
    t = sb.tenant(TENANT_A)
    with t.lock:
        t.mailboxes[FINANCE] = MailboxState.from_seed(MailboxSeed())
    assert graph.get(f"/users/{FINANCE}/mailboxSettings/userPurpose").json()["value"] == "shared"
    assert load_schema().enums["userPurpose"][:3] == ["user", "linked", "shared"]


def test_default_settings_follow_the_owner_and_the_recipient_type() -> None:
    schema = load_schema()
    room = default_settings({"country": "DE", "preferredLanguage": "de-DE"}, "RoomMailbox", "AAMkArchive")
    assert (room["timeZone"], room["workingHours"]["timeZone"]["name"]) == ("W. Europe Standard Time",) * 2
    assert room["language"] == {"locale": "de-DE", "displayName": "German (Germany)"}
    assert (room["userPurpose"], room["archiveFolder"]) == ("room", "AAMkArchive")
    assert default_settings({}, "MailUser", "x")["userPurpose"] == "others"
    assert default_settings({}, None, "x")["timeZone"] == "UTC"
    assert type_errors(schema, "graph.mailboxSettings", room) == []


# -- $count ----------------------------------------------------------------------------------

EVENTUAL = {"ConsistencyLevel": "eventual"}


@pytest.mark.parametrize(("path", "params", "expected"), [
    ("/users/$count", {}, 4),
    ("/users/$count", {"$filter": "accountEnabled eq false"}, 1),
    ("/groups/$count", {}, 3),
    ("/groups/$count", {"$filter": "mailEnabled eq true"}, 2),
    (f"/groups/{G_OUTER}/members/$count", {}, 2),
    (f"/groups/{G_OUTER}/transitiveMembers/$count", {}, 4),
])
def test_count_segment_answers_a_plain_number(graph: httpx.Client, path: str, params: dict[str, str],
                                              expected: int) -> None:
    r = graph.get(path, params=params, headers=EVENTUAL)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.text == str(expected)


def test_count_segment_matches_the_listed_collection(graph: httpx.Client) -> None:
    for collection in ("users", "groups"):
        listed = graph.get(f"/{collection}", params={"$count": "true"}, headers=EVENTUAL).json()
        assert int(graph.get(f"/{collection}/$count", headers=EVENTUAL).text) == listed["@odata.count"] \
            == len(listed["value"])


@pytest.mark.parametrize("path", ["/users/$count", "/groups/$count", f"/groups/{G_OUTER}/members/$count"])
def test_count_segment_without_consistency_level_is_refused(graph: httpx.Client, path: str) -> None:
    assert _error(graph.get(path)) == (400, "Request_BadRequest", "$count is not currently supported.")
    assert _error(graph.get(path, headers={"ConsistencyLevel": "session"}))[0] == 400


def test_count_segment_needs_directory_read_permission(limited: httpx.Client) -> None:
    status, code, _ = _error(limited.get("/users/$count", headers=EVENTUAL))
    assert (status, code) == (403, "Authorization_RequestDenied")


def test_count_segment_in_a_batch_carries_its_own_header(graph: httpx.Client) -> None:
    body = graph.post("/$batch", json={"requests": [
        {"id": "1", "method": "GET", "url": "/users/$count", "headers": EVENTUAL},
        {"id": "2", "method": "GET", "url": "/users/$count"}]}).json()
    by_id = {r["id"]: r for r in body["responses"]}
    assert (by_id["1"]["status"], by_id["1"]["body"]) == (200, 4)
    assert by_id["2"]["status"] == 400

