"""Duplicate deliveries: like Exchange, one mailbox keeps one delivered copy of a Message-ID."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from m365sandbox.generator import generate_tenant
from m365sandbox.mail import MailboxState
from tests.test_mail_harness import mailbox_seed, message

SENDER = {"emailAddress": {"address": "a@fabrikam.example"}}


def test_second_delivery_of_a_message_id_is_dropped_and_the_first_copy_returned() -> None:
    mb = MailboxState.from_seed(mailbox_seed([message(1)]))
    notified: list[str] = []
    mb.on_deliver = lambda iid, _fid: notified.append(iid)
    first = mb.deliver({"subject": "hi", "from": SENDER, "internetMessageId": "<dup@fabrikam.example>"})
    count, seq = mb.message_count(), mb.seq
    again = mb.deliver({"subject": "hi again", "from": SENDER, "internetMessageId": "<dup@fabrikam.example>"})
    assert again["id"] == first["id"] and again["subject"] == "hi"
    assert mb.message_count() == count and mb.seq == seq and notified == [first["id"]]
    # a seed message counts as delivered; a moved first copy is still found (under its new id)
    assert mb.deliver({"subject": "x", "internetMessageId": "<msg1@fabrikam.example>"})["subject"] == "Message 1"
    moved = mb.move(first["id"], "deleteditems")
    assert mb.deliver({"subject": "y", "internetMessageId": "<dup@fabrikam.example>"})["id"] == moved.id
    assert mb.message_count() == count
    # distinct Message-IDs are all kept
    mb.deliver({"subject": "other", "internetMessageId": "<other@fabrikam.example>"})
    assert mb.message_count() == count + 1


def test_sent_items_copy_is_not_a_delivery_so_a_message_to_oneself_is_kept_twice() -> None:
    mb = MailboxState.from_seed(mailbox_seed())
    own = {"subject": "note to self", "internetMessageId": "<self@contoso.example>"}
    sent = mb.deliver(own, "sentitems")
    inbox = mb.deliver(own, "inbox")
    assert sent["id"] != inbox["id"] and mb.message_count() == 2
    assert mb.deliver(own, "inbox")["id"] == inbox["id"] and mb.message_count() == 2


def test_generator_delivers_one_real_message_once_per_mailbox(tmp_path: Path) -> None:
    eml = (b"From: Partner <p@fabrikam.example>\r\nTo: someone@fabrikam.example\r\n"
           b"Subject: Quarterly figures\r\nMessage-ID: <only-one@fabrikam.example>\r\n"
           b"Date: Mon, 5 Jan 2026 10:00:00 +0000\r\n\r\nHello.\r\n")
    (tmp_path / "one.eml").write_bytes(eml)
    s = generate_tenant(seed=5, users=10, messages_per_mailbox=8, real_mail=str(tmp_path), real_mail_share=1.0)
    copies = Counter(mid for mid, mb in s.mailboxes.items() for m in mb.messages
                     if m["internetMessageId"] == "<only-one@fabrikam.example>")
    assert copies and set(copies.values()) == {1}
    for mid, seed in s.mailboxes.items():  # the live mailbox keeps every generated message
        assert MailboxState.from_seed(seed).message_count() == len(seed.messages), mid
