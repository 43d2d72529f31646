"""The scan's report: totals, the table (address first), a summary whose text from mail stays text."""

from __future__ import annotations

from datetime import UTC, datetime

from mailwarden.scan import MailboxScan, ScanReport

SINCE = datetime(2024, 1, 1, tzinfo=UTC)


def _report(**kw: object) -> ScanReport:
    results = [
        MailboxScan("m-b", seen=4, categories={"clean": 3, "malicious": 1}, actions={"quarantine:done": 1}),
        MailboxScan("m-a", seen=2, skipped=True, categories={"clean": 2}),
        MailboxScan.failure("m-c", "NotFound: [click](https://evil.example) " + "x" * 400, side="on-premises"),
    ]
    return ScanReport("contoso.com", "t1", "historic:s1", SINCE, results,
                      {"m-a": "ann@contoso.com", "m-b": "bob@contoso.com"}, **kw)  # type: ignore[arg-type]


def test_totals_sum_the_mailboxes_and_a_failed_one_makes_the_run_partial() -> None:
    r = _report(scan_run_id="run-9")
    t = r.totals()
    assert t["mailboxes"] == 3 and t["messages"] == 6 and t["resumed"] == ["m-a"]
    assert t["categories"] == {"clean": 5, "malicious": 1} and t["actions"] == {"quarantine:done": 1}
    assert list(t["failed"]) == ["m-c"] and len(t["failed"]["m-c"]) == 300 and r.status == "partial"
    assert "evaluation" not in t and _report(evaluation={"error": "x"}).totals()["evaluation"] == {"error": "x"}
    out = r.to_dict()
    assert out["scan_id"] == out["scope"] == "historic:s1" and out["scan_run_id"] == "run-9"
    assert [row["mailbox"] for row in out["rows"]] == ["m-a", "m-b", "m-c"]  # by address, ids last
    assert r.scanned() == ["m-a", "m-b"]


def test_the_table_shows_the_address_first_and_a_resumed_mailbox_as_such() -> None:
    rows = _report().table_rows()
    assert [list(row)[:2] for row in rows] == [["address", "mailbox"]] * 3
    assert rows[0]["status"] == "resumed" and rows[1]["malicious"] == 1 and rows[1]["actions"] == "quarantine:done=1"
    assert rows[2]["address"] == "m-c" and rows[2]["side"] == "on-premises"


def test_the_summary_counts_per_side_and_escapes_the_failure_text() -> None:
    text = _report(evaluation={"error": "could not read the ground truth file (see the server log)"}).summary_markdown()
    assert "| cloud | 2 | 6 | 0 |" in text and "| on-premises | 1 | 0 | 1 |" in text
    assert "## Failed mailboxes" in text and "[click](" not in text and "\\[click\\](https" in text
    assert "Not evaluated: could not read the ground truth file (see the server log)" in text
