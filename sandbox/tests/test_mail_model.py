"""MailboxState: the control-surface methods, copy-on-write over seed messages, the change log
behind delta, and the memory/time budget for large tenants."""

from __future__ import annotations

import threading
import time
import tracemalloc

from m365sandbox.mail import Item, MailboxState
from tests.test_mail_harness import ALICE, Harness, mailbox_seed, make_tenant, message


def test_deliver_assigns_id_change_key_times_and_a_delta_change() -> None:
    mb = MailboxState.from_seed(mailbox_seed([message(1)]))
    before = mb.seq
    sender = {"emailAddress": {"address": "a@fabrikam.example"}}
    out = mb.deliver({"subject": "hi", "from": sender}, now=1.8e9)
    assert out["id"].startswith("AAMk") and len(out["id"]) > 60
    assert out["parentFolderId"] == "inbox-a" and out["changeKey"]
    assert out["receivedDateTime"] == out["createdDateTime"] == "2027-01-15T08:00:00Z"
    assert out["internetMessageId"].endswith("@fabrikam.example>")
    assert mb.seq == before + 1 and mb.message_count() == 2
    assert isinstance(mb.lock, type(threading.RLock()))
    entries, _, done = mb.delta_page("inbox-a", before, mb.seq, before, 10, lambda _: True)
    assert [e.id for e in entries if not isinstance(e, str)] == [out["id"]] and done


def test_add_rule_fills_defaults_and_is_visible_in_rules() -> None:
    mb = MailboxState.from_seed(mailbox_seed())
    rule = mb.add_rule({"displayName": "Fwd", "actions": {"forwardTo": [
        {"emailAddress": {"address": "x@evil.example"}}]}})
    assert mb.rules[rule["id"]] is rule
    assert (rule["sequence"], rule["isEnabled"], rule["isReadOnly"], rule["hasError"]) == (
        1, True, False, False)
    assert mb.hidden_rules == [{"Name": "", "Identity": "alice\\9999", "Enabled": True}]


def test_changes_never_touch_the_seed_messages() -> None:
    seed_msg = message(1)
    snapshot = repr(seed_msg)
    mb = MailboxState.from_seed(mailbox_seed([seed_msg]))
    mb.update(seed_msg["id"], {"isRead": True, "categories": ["x"]})
    moved = mb.move(seed_msg["id"], "archive")
    mb.delete(moved.id)
    assert repr(seed_msg) == snapshot


def test_listing_is_computed_once_until_the_mailbox_changes() -> None:
    mb = MailboxState.from_seed(mailbox_seed([message(n) for n in range(50)]))
    first = mb.listing(None, True, (), None)
    assert mb.listing(None, True, (), None) is first
    mb.update(first[0], {"isRead": True})
    assert mb.listing(None, True, (), None) is not first


def test_a_5000_message_mailbox_serves_pages_of_1000_quickly() -> None:
    h = Harness(make_tenant([message(n, minutes=n % 4000) for n in range(5000)]))
    start = time.perf_counter()
    items = h.all_pages(f"/users/{ALICE}/mailFolders/inbox/messages", params={"$top": "1000",
                                                                             "$select": "subject"})
    elapsed = time.perf_counter() - start
    assert len(items) == 5000 and len({m["id"] for m in items}) == 5000
    assert elapsed < 5.0, elapsed  # ~0.2 s here; quadratic work would take minutes


def test_full_delta_sync_in_small_pages_is_linear() -> None:
    mb = MailboxState.from_seed(mailbox_seed([message(n) for n in range(5000)]))
    for n in range(0, 5000, 2):  # churn: half the items change, leaving dead index entries behind
        mb.update(f"AAMkADseed{n:06d}AAA=", {"isRead": True})
    upto, after, pages = mb.seq, 0, 0
    seen: list[Item | str] = []
    start = time.perf_counter()
    while True:
        entries, after, done = mb.delta_page("inbox-a", 0, upto, after, 10, lambda _: True)
        seen += entries
        pages += 1
        if done:
            break
    assert time.perf_counter() - start < 3.0
    ids = {e if isinstance(e, str) else e.id for e in seen}
    assert len(seen) == 5000 and len(ids) == 5000 and pages in (500, 501)


def test_ten_thousand_mailboxes_of_50_messages_fit_in_memory() -> None:
    """Measured on 500 mailboxes; the state adds well under 32 KB per 50-message mailbox on top of
    the seed's own message JSON (which it shares), i.e. < 320 MB for 10,000 mailboxes."""
    base = [message(n) for n in range(50)]
    seeds = [mailbox_seed([{**m, "id": f"AAMkAD{b:05d}{i:03d}"} for i, m in enumerate(base)])
             for b in range(500)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        boxes = [MailboxState.from_seed(s) for s in seeds]
        per_mailbox = (tracemalloc.get_traced_memory()[0] - before) / len(boxes)
    finally:
        tracemalloc.stop()
    assert sum(b.message_count() for b in boxes) == 25_000
    assert per_mailbox < 32_000, per_mailbox
