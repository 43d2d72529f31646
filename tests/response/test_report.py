"""A threat response's result per status, and a summary whose text from users and mail stays text."""

from __future__ import annotations

from mailwarden.mailbox import MessageQuery
from mailwarden.mailbox.ews import OnPremUnavailable
from mailwarden.response import CopyResult, ThreatResponse, ThreatSearch, per_side_lines, search_mailbox
from tests.scan._fakes import FakeMailbox, message


def _run(**kw: object) -> ThreatResponse:
    q = MessageQuery(link="micros0ft-login")
    search = ThreatSearch(q.describe(), [search_mailbox(FakeMailbox("a", [message(1, phishing=True)]), q),
                                         search_mailbox(FakeMailbox("b", [], location="onprem",
                                                                    fail=OnPremUnavailable("refused")), q)])
    return ThreatResponse("t1", "threat:x", search, flow_run_id="run-1", **kw)  # type: ignore[arg-type]


def test_the_result_says_what_was_found_and_only_a_done_run_has_results() -> None:
    nothing = _run(status="nothing-found").to_dict()
    assert nothing["found"] == 1 and nothing["mailboxes_with_copies"] == ["a"] and nothing["results"] == []
    assert "counts" not in nothing and "decision" not in nothing
    assert _run(status="rejected", approval="rejected by soc (claimed)").to_dict()["decision"] == \
        "rejected by soc (claimed)"
    done = _run(action="quarantine", results=[CopyResult("a", "cloud", "m1", "done", "n1", "moved")]).to_dict()
    assert done["counts"] == {"done": 1} and done["flow_run_id"] == "run-1" and done["results"][0]["message_id"] == "m1"


def test_errors_of_the_search_count_per_side_and_are_listed_as_text() -> None:
    assert _run().search.errors == {"b": "OnPremUnavailable: refused"}
    lines = per_side_lines([{"side": "cloud", "result": "done"}],
                           [{"side": "cloud", "error": None}, {"side": "on-premises", "error": "[x](https://e)"}])
    assert lines[2] == "| cloud | 1 | 0 | done=1 |" and lines[3] == "| on-premises | 1 | 1 | - |"
    assert lines[4] == "- on-premises failed: \\[x\\](https\\://e)" and lines[-1] == ""


def test_the_summary_escapes_the_approver_and_shows_the_query_verbatim() -> None:
    text = _run(action="soft_delete", approval="approved by [soc](https://evil) (claimed)",
                results=[CopyResult("a", "cloud", "m1", "done", "n1", "moved")]).summary_markdown("contoso.com")
    assert "Query: `link=micros0ft-login`" in text and "[soc](" not in text
    assert "on 1 copies in 1 mailboxes: done=1" in text and "flow_run_id=run-1" in text
    assert "cannot be undone" in _run(action="hard_delete").summary_markdown("contoso.com")
