"""Reading and searching mailboxes against the sandbox tenant."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from pydantic import ValidationError

from mailwarden.mailbox import (
    MESSAGE_SELECT,
    MessageQuery,
    attachment_sha256,
    find_by_internet_message_id,
    find_messages,
    folder_names,
    iter_messages,
    matches,
)


def _campaign(state: Any) -> tuple[str, list[tuple[str, str]]]:
    assert state.truth.campaigns, "the generator planted no campaign"
    imid, copies = next(iter(state.truth.campaigns.items()))
    return imid, copies


def test_iter_messages_pages_every_visible_message_with_the_scan_select(tenant: Any, graph: Any) -> None:
    _, state = tenant
    uid = next(iter(state.mailboxes))
    mb = state.mailboxes[uid]
    visible = set(mb.ids_in(None))
    got = list(iter_messages(graph, uid, page_size=2))
    assert {m["id"] for m in got} == visible
    assert all(set(m) - {"@odata.etag", "attachments"} <= set(MESSAGE_SELECT.split(",")) for m in got)


def test_find_by_internet_message_id_finds_campaign_copies_in_subfolders(tenant: Any, graph: Any) -> None:
    _, state = tenant
    imid, copies = _campaign(state)
    found = {(mb, m["id"]) for mb, _ in copies for m in find_by_internet_message_id(graph, mb, imid)}
    assert found == set(copies)
    folders = {state.mailboxes[mb].items[mid].folder for mb, mid in copies}
    inboxes = {state.mailboxes[mb].well_known["inbox"] for mb, _ in copies}
    assert folders - inboxes, "expected at least one copy outside the inbox"


def test_find_messages_by_sender_and_keyword_match_the_copy(tenant: Any, graph: Any) -> None:
    _, state = tenant
    _, copies = _campaign(state)
    mb, mid = copies[0]
    msg = graph.get(f"/users/{mb}/messages/{mid}")
    sender = msg["from"]["emailAddress"]["address"]
    word = max(msg["subject"].split(), key=len)
    by_sender = find_messages(graph, mb, MessageQuery(sender=sender))
    assert mid in {m["id"] for m in by_sender}
    by_word = find_messages(graph, mb, MessageQuery(keyword=word, sender=sender))
    assert mid in {m["id"] for m in by_word}
    assert find_messages(graph, mb, MessageQuery(sender=sender, subject="zz-no-such-subject-zz")) == []


def test_matches_link_header_and_attachment_hash() -> None:
    data = b"%PDF-1.4 invoice"
    msg = {"body": {"content": '<a href="https://evil.example/login">x</a>'},
           "internetMessageHeaders": [{"name": "X-Campaign", "value": "Wave-7"}],
           "attachments": [{"name": "a.pdf", "contentBytes": base64.b64encode(data).decode()}]}
    digest = hashlib.sha256(data).hexdigest()
    assert attachment_sha256(msg["attachments"][0]) == digest
    assert matches(msg, MessageQuery(link="evil.example/login", header_name="x-campaign", header_value="wave-7",
                                     attachment_sha256=digest.upper()))
    assert not matches(msg, MessageQuery(link="good.example"))
    assert not matches(msg, MessageQuery(header_name="X-Campaign", header_value="wave-8"))
    assert not matches(msg, MessageQuery(attachment_sha256="0" * 64))


def test_a_query_describes_itself_stably_and_takes_a_header_as_name_and_value() -> None:
    """The description is what default threat-response scopes hash: it must not change with the type."""
    q = MessageQuery(internet_message_id="<a@b>", sender="x@evil.example", header_name="X-Campaign",
                     header_value="wave-7")
    assert q.describe() == "header=('X-Campaign', 'wave-7'); internet_message_id=<a@b>; sender=x@evil.example"
    assert q.header == ("X-Campaign", "wave-7") and not q.is_empty() and MessageQuery().is_empty()
    with pytest.raises(ValidationError, match="header_name and header_value go together"):
        MessageQuery(header_name="X-Campaign")


def test_folder_names_include_subfolders_as_paths(tenant: Any, graph: Any) -> None:
    _, state = tenant
    _, copies = _campaign(state)
    mb, mid = copies[-1]
    names = folder_names(graph, mb)
    assert names[state.mailboxes[mb].well_known["inbox"]] == "Inbox"
    assert state.mailboxes[mb].items[mid].folder in names
