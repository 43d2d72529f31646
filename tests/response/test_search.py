"""Searching for a threat: what names it, its copies per mailbox, and the whole search."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mailwarden.graph import Forbidden
from mailwarden.mailbox import MessageQuery
from mailwarden.response import ThreatQuery, ThreatSearch, by_mailbox, default_scope, search_mailbox
from tests.scan._fakes import FakeMailbox, message


def test_a_threat_query_names_something_and_its_header_is_a_pair() -> None:
    with pytest.raises(ValidationError, match="give at least one search criterion"):
        ThreatQuery()
    with pytest.raises(ValidationError, match="header_name and header_value go together"):
        ThreatQuery(header_value="wave-7")
    q = ThreatQuery(header_name="X-Campaign", header_value="wave-7")
    assert isinstance(q, MessageQuery) and q.header == ("X-Campaign", "wave-7")


def test_the_default_scope_depends_on_the_query_only() -> None:
    scope = default_scope(ThreatQuery(internet_message_id="<a@b>"))
    assert scope == default_scope(MessageQuery(internet_message_id="<a@b>"))  # the same text, the same scope
    assert scope.startswith("threat:") and scope != default_scope(ThreatQuery(internet_message_id="<c@d>"))


def test_a_mailbox_search_gives_each_copy_with_folder_path_and_read_state() -> None:
    box = FakeMailbox("ann", [message(1, phishing=True, folder="projects-id"), message(2), message(3, phishing=True)])
    found = search_mailbox(box, MessageQuery(link="micros0ft-login"))
    assert found.error is None and [c.id for c in found.copies] == ["m1", "m3"]
    first = found.copies[0]
    assert (first.folder, first.is_read, first.side) == ("Inbox/Projects", False, "cloud")
    assert first.message() == {"id": "m1", "internetMessageId": "<m1@x>", "parentFolderId": "projects-id"}


def test_an_unreadable_mailbox_is_a_search_error_not_a_failure() -> None:
    box = FakeMailbox("bob", [message(1)], location="onprem", fail=Forbidden(403, "ErrorAccessDenied", "denied"))
    found = search_mailbox(box, MessageQuery(subject="x"))
    assert found.copies == [] and found.side == "on-premises" and (found.error or "").startswith("Forbidden:")


def test_the_search_previews_every_copy_and_groups_them_per_mailbox() -> None:
    q = MessageQuery(link="micros0ft-login")
    searched = [search_mailbox(FakeMailbox("b", [message(1, phishing=True), message(2, phishing=True)]), q),
                search_mailbox(FakeMailbox("a", [message(3, phishing=True)]), q),
                search_mailbox(FakeMailbox("c", [], fail=Forbidden(403, None, "denied")), q)]
    search = ThreatSearch(q.describe(), searched)
    assert len(search.copies) == 3 and search.mailboxes_with_copies() == ["a", "b"] and list(search.errors) == ["c"]
    assert search.preview_text() == "3 copies in 2 mailboxes for: link=micros0ft-login"
    rows = search.preview_rows({"a": "ann@contoso.com"})
    assert rows[2]["address"] == "ann@contoso.com" and list(rows[0])[:2] == ["address", "mailbox"]
    assert ThreatSearch("x", []).preview_rows({}) == [{"address": "(no copies found)"}]
    assert list(by_mailbox(search.copies)) == ["a", "b"] and list(by_mailbox(search.copies, ["b"])) == ["b"]
