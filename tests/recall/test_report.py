"""The recall report: counts, Markdown summary, notice text."""

from __future__ import annotations

from mailwarden.recall import RecallReport, RecipientResult, external_results, notice_text, summary_markdown


def _report() -> RecallReport:
    rows = [RecipientResult("ann@c.com", "ann", "recalled", via="to:dl@c.com (group)", folder="Inbox"),
            RecipientResult("bob@c.com", "bob", "read_left_alone", folder="Inbox|x"),
            *external_results([("dana@p.example", "to")], "<m@c>")]
    return RecallReport(tenant="c.com", sender="eve@c.com", message="internetMessageId <m@c>", action="quarantine",
                        subject="Budget", results=rows, flow_run_id="run-1")


def test_counts_rows_and_summary_name_every_recipient_and_the_undo() -> None:
    report = _report()
    assert report.counts() == {"external": 1, "read_left_alone": 1, "recalled": 1}
    assert [r["result"] for r in report.rows()] == ["recalled", "read: left alone", "external (not recallable)"]
    md = summary_markdown(report)
    assert "| dana@p.example | external (not recallable) |" in md
    assert "Inbox\\|x" in md and "| Inbox|x" not in md  # a pipe cannot break the table
    assert "flow_run_id=run-1" in md


def test_hard_delete_and_rejections_offer_no_undo_and_say_why() -> None:
    report = _report()
    report.action = "hard_delete"
    assert "restore" not in summary_markdown(report)
    rejected = RecallReport(tenant="c.com", sender="x@y", message="m", action="quarantine", status="rejected",
                            reason="sender x@y is not an address of this tenant")
    assert "not an address of this tenant" in summary_markdown(rejected)
    assert "rejected" in notice_text(rejected)
    assert "Not recallable (outside the organisation): dana@p.example" in notice_text(_report())


def test_the_notice_subject_says_the_outcome_and_names_the_message() -> None:
    report = _report()
    assert report.notice_subject() == "mailwarden recall (done): Budget"
    report.subject, report.status = "", "rejected"
    assert report.notice_subject() == "mailwarden recall (rejected): internetMessageId <m@c>"
