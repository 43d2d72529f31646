"""Planning a scan: the protected mailboxes (one definition), named mailboxes, checkpoints."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from mailwarden.directory import AddressBook
from mailwarden.scan import ALL_FOLDERS, Targets, plan_scan
from mailwarden.store import Store
from mailwarden.store.repositories import list_checkpoints, mark_checkpoint_done
from tests.directory._data import small_state

SINCE = datetime(2024, 1, 1, tzinfo=UTC)
TENANT = small_state().tenant_id


def test_protected_mailboxes_are_people_and_shared_ones_not_rooms_or_guests() -> None:
    book = AddressBook.from_state(small_state())
    assert book.protected_mailboxes() == ["ann", "bob", "dis", "shared", "unlic"]
    assert "room" in book.objects.index[book.objects["has_mailbox"]]  # a mailbox, yet not protected


def test_an_on_premises_mailbox_is_protected() -> None:
    state = small_state()
    state.users["ann"]["onPremisesSyncEnabled"] = True
    state.recipient_types["ann"] = "MailUser"  # how Exchange Online sees a mailbox on-premises
    book = AddressBook.from_state(state)
    assert "ann" in book.protected_mailboxes()
    assert Targets.of(book, None, "contoso.com").where("ann") == ("onprem", "ann@contoso.com")


def test_named_mailboxes_resolve_by_id_or_any_alias_and_an_unknown_one_is_refused() -> None:
    book = AddressBook.from_state(small_state())
    assert book.mailboxes_named(["AL@contoso.net", "bob", "ann@contoso.com"], "contoso.com") == ["ann", "bob"]
    with pytest.raises(ValueError, match=re.escape("'nobody@contoso.com' is not a mailbox of contoso.com")):
        book.mailboxes_named(["ann", "nobody@contoso.com"], "contoso.com")
    with pytest.raises(ValueError, match="is not a mailbox of"):
        book.mailboxes_named(["finance@contoso.com"], "contoso.com")  # a group reaches several mailboxes


def test_the_plan_creates_checkpoints_and_knows_what_an_earlier_run_finished(
        store: Store, saved_book: AddressBook) -> None:
    with store.session() as s:
        mark_checkpoint_done(s, TENANT, "historic:x", "bob", ALL_FOLDERS, messages_seen=3)
        plan = plan_scan(s, tenant_id=TENANT, domain="contoso.com", scan_id="historic:x", since=SINCE,
                         mailboxes=None, folders=None)
        s.commit()
    assert plan.mailboxes == saved_book.protected_mailboxes() and plan.done_before == ["bob"]
    assert plan.addresses["ann"] == "ann@contoso.com" and plan.where("ann") is None
    assert "contoso.com" in plan.context.tenant_domains
    with store.session() as s:
        states = {c.mailbox_id: c.state for c in list_checkpoints(s, "historic:x")}
    assert states == {"ann": "pending", "bob": "done", "dis": "pending", "shared": "pending", "unlic": "pending"}


def test_a_plan_without_an_address_book_says_so(store: Store) -> None:
    with store.session() as s, pytest.raises(LookupError, match="run reconcile-licenses first"):
        plan_scan(s, tenant_id=TENANT, domain="contoso.com", scan_id="historic:x", since=SINCE, mailboxes=None,
                  folders=None)
