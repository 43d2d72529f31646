"""A takeover-response run: step order, one approval for the gated steps, the report (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from mailwarden.takeover.run import NOT_NEEDED, Decision, TakeoverRun, failed_step, run_trigger

USER = {"id": "u-1", "upn": "ann@contoso.example", "domains": ["contoso.example"]}
STEPS = ["remove_rules", "forwarding_off", "reset_password", "review_sent_items"]


class _Harness:
    """Fakes for the run's callables: what was asked, run and recorded, in order."""

    def __init__(self, decision: Decision | None = None, fail: str | None = None) -> None:
        self.decision, self.fail = decision, fail
        self.asked: list[list[str]] = []
        self.calls: list[tuple[str, str]] = []
        self.recorded: list[dict[str, Any]] = []
        self.events: list[str] = []

    def ask(self, waiting: list[str]) -> Decision:
        self.asked.append(waiting)
        self.events.append("ask")
        assert self.decision is not None, "asked although every step was unattended"
        return self.decision

    def run_step(self, step: str, approval: str) -> dict[str, Any]:
        self.calls.append((step, approval))
        self.events.append(step)
        if step == self.fail:
            return failed_step(step, RuntimeError("Graph said no")).to_dict()
        return {"step": step, "result": "done", "detail": "", "items": []}

    def play(self, auto: set[str], steps: list[str] = STEPS) -> TakeoverRun:
        return TakeoverRun("contoso.example", USER, "run-1").play(
            steps, auto, ask=self.ask, run_step=self.run_step, record=self.recorded.append)


def test_every_step_unattended_never_asks() -> None:
    h = _Harness()
    run = h.play(set(STEPS))
    assert h.asked == [] and [s for s, _ in h.calls] == STEPS
    assert {a for _, a in h.calls} == {"unattended: allowed by the tenant policy"}
    assert run.decision.text == NOT_NEEDED and run.status == "done" and run.steps == h.recorded


def test_the_gated_steps_are_asked_about_once_when_the_first_is_reached() -> None:
    h = _Harness(Decision.answer(["forwarding_off", "reset_password"], approve=True, comment="go"))
    run = h.play({"remove_rules", "review_sent_items"})
    assert h.asked == [["forwarding_off", "reset_password"]]
    assert h.events == ["remove_rules", "ask", "forwarding_off", "reset_password", "review_sent_items"]
    approvals = dict(h.calls)
    assert approvals["reset_password"] == "approved via prefect-api (actor unverified)"
    assert approvals["review_sent_items"].startswith("unattended")
    assert run.decision.text == "approved" and run.to_dict(notified=True)["approval"] == approvals["reset_password"]


def test_a_skipped_step_is_recorded_not_run() -> None:
    ask = ["forwarding_off", "reset_password"]
    h = _Harness(Decision.answer(ask, approve=True, skip=["reset_password", "not_a_step"]))
    run = h.play({"remove_rules", "review_sent_items"})
    assert "reset_password" not in dict(h.calls)
    skipped = next(s for s in run.steps if s["step"] == "reset_password")
    assert skipped["result"] == "skipped" and skipped["detail"] == "not approved: approved, skipping reset_password"
    assert skipped in h.recorded and [s["step"] for s in run.steps] == STEPS


@pytest.mark.parametrize(("decision", "text"), [
    (Decision.answer(["reset_password"], approve=False, comment="false alarm"), "rejected (false alarm)"),
    (Decision.answer(["reset_password"], approve=False), "rejected"),
    (Decision.timed_out(["reset_password"], 60), "no answer within 60s: reset_password not run"),
])
def test_rejection_or_silence_runs_no_gated_step(decision: Decision, text: str) -> None:
    h = _Harness(decision)
    run = h.play({"remove_rules", "forwarding_off", "review_sent_items"})
    assert [s for s, _ in h.calls] == ["remove_rules", "forwarding_off", "review_sent_items"]
    assert run.decision.text == text
    assert next(s for s in run.steps if s["step"] == "reset_password")["detail"] == f"not approved: {text}"
    assert run.approval_text().startswith(f"{text} [")


def test_a_failed_step_is_reported_and_the_later_ones_still_run() -> None:
    h = _Harness(fail="forwarding_off")
    run = h.play(set(STEPS))
    assert [s for s, _ in h.calls] == STEPS
    assert run.failed == ["forwarding_off"] and run.status == "failed"
    failed = run.steps[1]
    assert failed["result"] == "failed" and failed["detail"] == "RuntimeError: Graph said no"


def test_the_notice_escapes_what_came_from_mail_and_the_directory() -> None:
    run = TakeoverRun("contoso.example", {**USER, "upn": "[x](https://evil.example)@contoso.example"}, "run-1")
    run.steps.append({"step": "remove_rules", "result": "done", "detail": "*bold*", "items": []})
    subject, body = run.notice()
    assert subject == "mailwarden: takeover response for [x](https://evil.example)@contoso.example"
    assert "[x](https" not in body and "\\*bold\\*" in body
    out = run.to_dict(notified=False)
    assert (out["tenant"], out["user"], out["run_id"], out["notified"]) == ("contoso.example", "u-1", "run-1", False)


def test_a_run_names_its_trigger() -> None:
    assert run_trigger({"rule_key": "graph:abc"}) == "event"
    assert run_trigger({}) == "manual" and run_trigger({"rule_key": ""}) == "manual"
