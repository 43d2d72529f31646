"""Real mail into Graph's message shape: tricky hand-written messages and the dev corpus."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from m365sandbox.eml import eml_to_graph_message, iter_eml
from m365sandbox.generator import generate_tenant
from tests.csdl import require_shared

CORPUS = (
    Path(os.environ.get("MAILWARDEN_SHARED_DIR", Path(__file__).resolve().parents[2] / ".." / "shared"))
    / "corpus"
)
SOURCES = [
    (CORPUS / "phishing_pot-dev.tar.gz", "phishing"),
    (CORPUS / "spamassassin-ham-dev.tar.gz", "legitimate"),
]
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def corpus() -> list[tuple[Path, str]]:
    """(archive, label) of the dev corpus; missing, the test skips (and fails under CI=true)."""
    return [(require_shared(path, "real-mail dev corpus"), label) for path, label in SOURCES]



def test_encoded_word_subject_and_names_are_decoded():
    raw = (
        b"From: =?utf-8?B?SsO8cmdlbiBNw7xsbGVy?= <j@example.test>\r\nTo: a@example.test\r\n"
        b"Subject: =?iso-8859-1?Q?R=E9union_demain?= =?utf-8?q?_=E2=9C=93?=\r\n"
        b"Date: Tue, 01 Apr 2025 10:00:00 +0200\r\nMessage-ID: <x1@example.test>\r\n\r\nhello\r\n"
    )
    msg, atts = eml_to_graph_message(raw)
    assert msg["subject"] == "R\u00e9union demain \u2713"
    assert msg["from"]["emailAddress"] == {"name": "J\u00fcrgen M\u00fcller", "address": "j@example.test"}
    assert (
        msg["receivedDateTime"] == "2025-04-01T08:00:00Z" and msg["internetMessageId"] == "<x1@example.test>"
    )
    assert msg["body"] == {"contentType": "text", "content": "hello\r\n"} and atts == []


def test_broken_base64_and_wrong_charset_do_not_crash():
    raw = (
        b"From: a@example.test\r\nSubject: bad\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
        b"Content-Type: text/plain; charset=no-such-charset\r\n\r\ncaf\xe9 ok\r\n--XX\r\n"
        b'Content-Type: application/pdf; name="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        b"JVBERi0x!!!not*base64===\r\n--XX--\r\n"
    )
    msg, atts = eml_to_graph_message(raw, now=NOW)
    assert "caf" in msg["body"]["content"] and msg["receivedDateTime"] == "2025-01-02T03:04:05Z"
    assert [a["name"] for a in atts] == ["a.pdf"] and msg["hasAttachments"]
    assert atts[0]["size"] == len(base64.b64decode(atts[0]["contentBytes"]))


def test_nested_multipart_prefers_html_and_keeps_tnef_and_inline_parts():
    raw = (
        b"From: a@example.test\r\nTo: Old <old@pot>, b@x.test\r\nCc: c@x.test\r\nSubject: n\r\n"
        b"Content-Type: multipart/mixed; boundary=A\r\n\r\n--A\r\n"
        b"Content-Type: multipart/related; boundary=B\r\n\r\n--B\r\n"
        b"Content-Type: multipart/alternative; boundary=C\r\n\r\n--C\r\n"
        b"Content-Type: text/plain\r\n\r\nplain\r\n--C\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Hello <b>there</b></p>\r\n--C--\r\n--B\r\nContent-Type: image/png\r\nContent-ID: <img1>\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--B--\r\n--A\r\n"
        b"Content-Type: application/ms-tnef; name=winmail.dat\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"eJ8+IgAA\r\n--A--\r\n"
    )
    msg, atts = eml_to_graph_message(
        raw, recipients_map={"old@pot": "ann@contoso.example"}, mailbox_address="me@contoso.example"
    )
    assert msg["body"]["contentType"] == "html" and msg["bodyPreview"] == "Hello there"
    assert {a["name"]: a["isInline"] for a in atts} == {"part2.png": True, "winmail.dat": False}
    assert [r["emailAddress"]["address"] for r in msg["toRecipients"]] == ["me@contoso.example", "b@x.test"]
    to_header = next(h["value"] for h in msg["internetMessageHeaders"] if h["name"] == "To")
    assert "old@pot" not in to_header


def test_html_only_and_punycode_and_missing_headers():
    raw = (
        b'From: "Support" <help@xn--mcrosoft-f4a.com>\r\nContent-Type: text/html\r\n\r\n'
        b"<html><style>p{}</style><p>Verify&nbsp;now</p></html>"
    )
    msg, _ = eml_to_graph_message(raw, now=NOW)
    assert msg["from"]["emailAddress"]["address"] == "help@xn--mcrosoft-f4a.com"
    assert msg["bodyPreview"] == "Verify now" and msg["subject"] == "" and msg["toRecipients"] == []
    assert msg["internetMessageId"].endswith("@generated.invalid>")
    assert [h["name"] for h in msg["internetMessageHeaders"]] == ["From", "Content-Type"]


def test_headers_keep_order_and_first_received_sets_received_time():
    raw = (
        b"Received: from b by c; Wed, 02 Apr 2025 10:00:05 +0000\r\nReceived: from a by b; "
        b"Wed, 02 Apr 2025 10:00:01 +0000\r\nDate: Wed, 02 Apr 2025 09:59:00 +0000\r\nSubject: s\r\n\r\nx"
    )
    msg, _ = eml_to_graph_message(raw)
    assert [h["name"] for h in msg["internetMessageHeaders"]] == ["Received", "Received", "Date", "Subject"]
    assert msg["receivedDateTime"] == "2025-04-02T10:00:05Z" and msg["sentDateTime"] == "2025-04-02T09:59:00Z"


def test_iter_eml_reads_a_directory(tmp_path):
    (tmp_path / "b.eml").write_bytes(b"Subject: b\r\n\r\nb")
    (tmp_path / "a.eml").write_bytes(b"Subject: a\r\n\r\na")
    (tmp_path / "skip.txt").write_bytes(b"x")
    assert [n for n, _ in iter_eml(tmp_path)] == ["a.eml", "b.eml"]


def test_whole_dev_corpus_converts(corpus):
    n = 0
    for src, _ in corpus:
        for name, raw in iter_eml(src):
            msg, _atts = eml_to_graph_message(raw, now=NOW)
            assert msg["internetMessageId"] and isinstance(msg["body"]["content"], str), name
            assert len(msg["bodyPreview"]) <= 255
            n += 1
    assert n == 629


def test_real_mail_labels_go_to_truth_not_messages(corpus):
    s = generate_tenant(
        seed=4,
        users=10,
        messages_per_mailbox=6,
        real_mail=[(p, label) for p, label in corpus],
        real_mail_share=0.5,
    )
    labelled = s.truth.labels
    assert labelled and set(labelled.values()) <= {"phishing", "legitimate"}
    msgs = {m["id"]: m for mb in s.mailboxes.values() for m in mb.messages}
    assert labelled.keys() <= msgs.keys()
    assert {i for i, lab in labelled.items() if lab == "phishing"} <= s.truth.malicious_message_ids
    assert all("phishing" not in str(m.get("categories")) for m in msgs.values())
