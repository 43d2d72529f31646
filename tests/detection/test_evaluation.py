"""Judging a scan against ground truth: scope, copies, sources, actions, and label parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailwarden.detection.evaluation import (
    CompletedAction,
    LabelledMessage,
    ScannedVerdict,
    evaluate,
    markdown,
    parse_labels,
    parse_labels_text,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _lab(label: str, imid: str, mb: str = "mb1", source: str = "real", **kw: object) -> LabelledMessage:
    return LabelledMessage(label=label, internet_message_id=imid, mailbox_id=mb, source=source,  # type: ignore[arg-type]
                           received=kw.pop("received", T0), **kw)  # type: ignore[arg-type]


def test_rates_count_missing_findings_as_clean_and_split_by_source() -> None:
    labels = [_lab("phishing", "<p1>"), _lab("phishing", "<p2>"), _lab("phishing", "<p3>"),
              _lab("phishing", "<g1>", source="generated"), _lab("legitimate", "<h1>"), _lab("legitimate", "<h2>"),
              _lab("legitimate", "<h3>", source="generated")]
    verdicts = [ScannedVerdict("MB1", "malicious", "<P1>"), ScannedVerdict("mb1", "spam", "<p2>"),
                ScannedVerdict("mb1", "suspicious", "<h1>"), ScannedVerdict("mb1", "graymail", "<h2>"),
                ScannedVerdict("mb1", "suspicious", "<g1>")]
    ev = evaluate(labels, verdicts, [CompletedAction("mb1", "<p1>", "quarantine")])
    real, gen, all_ = ev.by_source["real"], ev.by_source["generated"], ev.overall
    assert list(ev.by_source) == ["generated", "real", "all"]
    assert (real.phishing, real.phishing_not_clean, real.phishing_threat) == (3, 2, 1)
    assert real.recall == pytest.approx(2 / 3) and real.threat_recall == pytest.approx(1 / 3)
    assert real.phishing_acted == {"quarantine": 1} and real.acted == pytest.approx(1 / 3)
    assert (real.legitimate, real.legitimate_threat) == (2, 1)  # graymail is not a false positive
    assert gen.recall == 1.0 and gen.false_positive_rate == 0.0
    assert (all_.phishing, all_.legitimate, all_.phishing_not_clean) == (4, 3, 3)


def test_labels_outside_the_scanned_mailboxes_or_window_are_out_of_scope() -> None:
    labels = [_lab("phishing", "<a>", mb="mb1"), _lab("phishing", "<b>", mb="mb2"),
              _lab("phishing", "<c>", received=datetime(2020, 1, 1)),  # naive: read as UTC
              _lab("legitimate", "<d>", mb="mb1")]
    ev = evaluate(labels, [], mailboxes=["MB1"], since=datetime(2023, 1, 1, tzinfo=UTC))
    assert ev.labelled == 4 and ev.out_of_scope == 2
    assert ev.overall.phishing == 1 and ev.overall.recall == 0.0 and ev.overall.legitimate == 1


def test_one_copy_per_mailbox_and_a_label_without_mailbox_takes_the_worst_copy() -> None:
    labels = [_lab("phishing", "<x>", mb="mb1"), _lab("phishing", "<x>", mb="mb1"), _lab("phishing", "<x>", mb="mb2"),
              LabelledMessage(label="phishing", internet_message_id="<y>", source="real")]
    verdicts = [ScannedVerdict("mb2", "spam", "<x>"), ScannedVerdict("mb1", "graymail", "<y>"),
                ScannedVerdict("mb2", "malicious", "<y>")]
    ev = evaluate(labels, verdicts)
    assert ev.overall.phishing == 3  # mb1 copy of <x> (clean), mb2 copy (spam), <y> anywhere (malicious)
    assert ev.overall.phishing_not_clean == 2 and ev.overall.phishing_threat == 1
    assert ev.to_json()["judged"] == 3 and ev.labelled == 4 and ev.out_of_scope == 0


def test_deleted_before_the_scan_is_out_of_scope_but_deleted_by_it_counts() -> None:
    labels = [_lab("phishing", "<gone>", deleted=True), _lab("phishing", "<purged>", deleted=True)]
    ev = evaluate(labels, [ScannedVerdict("mb1", "malicious", "<purged>")],
                  [CompletedAction("mb1", "<purged>", "hard_delete")])
    assert ev.out_of_scope == 1 and ev.overall.phishing == 1 and ev.overall.acted == 1.0


def test_a_message_is_matched_by_graph_id_when_it_has_no_internet_message_id() -> None:
    labels = [LabelledMessage(label="phishing", message_id="AAMk1", mailbox_id="mb1", source="x")]
    ev = evaluate(labels, [ScannedVerdict("mb1", "suspicious", None, "AAMk1")],
                  [CompletedAction("mb1", "AAMk1", "quarantine")])
    assert ev.overall.threat_recall == 1.0 and ev.overall.phishing_acted == {"quarantine": 1}


def test_no_labels_gives_no_rates_and_markdown_says_n_a() -> None:
    ev = evaluate([], [ScannedVerdict("mb1", "malicious", "<z>")])
    assert ev.overall.recall is None and ev.overall.false_positive_rate is None
    table = "\n".join(markdown(ev.to_json()))
    assert "| **all** | 0 | n/a |" in table


def test_markdown_shows_rates_and_actions_per_source() -> None:
    labels = [_lab("phishing", "<p>"), _lab("legitimate", "<h>", source="generated")]
    ev = evaluate(labels, [ScannedVerdict("mb1", "malicious", "<p>")], [CompletedAction("mb1", "<p>", "quarantine")])
    table = markdown(ev)
    assert table[0].startswith("| source | phishing | recall (not clean)")
    assert "| real | 1 | 100.0% (1) | 100.0% (1) | 100.0% (1) [quarantine 1] | 0 | n/a | n/a |" in table
    assert "| generated | 0 | n/a | n/a | n/a | 1 | 0.0% (0) | 0.0% (0) |" in table


def test_parse_labels_accepts_aliases_and_rejects_bad_rows() -> None:
    rows = parse_labels({"messages": [
        {"label": "malicious", "internetMessageId": "<a>", "receivedDateTime": "2024-02-01T00:00:00Z"},
        {"label": "ham", "id": "AAMk", "mailbox_id": "mb", "deleted": "true", "source": "given"}]})
    assert rows[0].label == "phishing" and rows[0].received == datetime(2024, 2, 1, tzinfo=UTC)
    assert rows[1].label == "legitimate" and rows[1].deleted and rows[1].source == "given"
    for bad in ([{"label": "unknown", "internet_message_id": "<a>"}], [{"label": "phishing"}], "x",
                [{"label": "phishing", "id": "a", "received": "yesterday"}]):
        with pytest.raises(ValueError):
            parse_labels(bad)


def test_parse_labels_text_reads_json_lines_and_csv() -> None:
    jsonl = '{"label": "phishing", "internet_message_id": "<a>"}\n{"label": "legitimate", "id": "b"}\n'
    assert [r.label for r in parse_labels_text(jsonl)] == ["phishing", "legitimate"]
    csv_text = "label,internet_message_id,mailbox_id\nphishing,<a>,mb1\nlegitimate,<b>,\n"
    rows = parse_labels_text(csv_text, source="csv")
    assert rows[0].mailbox_id == "mb1" and rows[1].mailbox_id is None and rows[1].source == "csv"
