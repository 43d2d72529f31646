"""Text an attacker controls (rule names, event payloads, subjects of sent items) is inert in the
approval form and the playbook summary, rendered as the Prefect UI would (CommonMark + tables)."""

from __future__ import annotations

from types import SimpleNamespace

from markdown_it import MarkdownIt

from tasks.takeover import approval_markdown, summary_markdown

BLOCK = SimpleNamespace(primary_domain="contoso.example", tenant_id="t-1")
USER = {"upn": "ann@contoso.example", "id": "u-1"}
LINK = "[Approve now](https://evil.example/ok)"
HTML = "<img src=x onerror=alert(1)>"


def _html(text: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(text)


def test_evidence_from_an_event_payload_cannot_add_links_or_markup_to_the_approval_form() -> None:
    evidence = {"rule_name": LINK, "reasons": [HTML, "**approved by security**", "\n# Approved\n"],
                "rule_key": "graph:`x`", "risk": "high"}
    html = _html(approval_markdown(BLOCK, USER, evidence, ["reset_password"], ["remove_rules"]))
    assert "<a " not in html and "<img" not in html and "<strong>approved" not in html
    assert html.count("<h1>") == 0 and "Approve now" in html  # the text is there, as text


def test_rule_names_and_sent_subjects_cannot_break_the_summary_table() -> None:
    steps = [{"step": "remove_rules", "result": "done", "detail": "1 | rule", "items": [
                 {"rule_key": "graph:1", "name": LINK, "result": "done"}]},
             {"step": "review_sent_items", "result": "done", "detail": "1 message(s)", "items": [
                 {"sent": "2026-12-01", "subject": HTML, "to": ["x@evil.example"]}]}]
    html = _html(summary_markdown(BLOCK, USER, steps, "approved"))
    assert "<a " not in html and "<img" not in html
    assert html.count("<tr>") == 3  # header + two steps: no cell split a row
