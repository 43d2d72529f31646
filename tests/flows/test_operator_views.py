"""What operators read in the Prefect UI: per-tenant artifact keys, addresses, approval and consent forms."""

from __future__ import annotations

import re

import pytest

from blocks.m365 import M365Tenant
from mailwarden.directory import AddressBook
from tasks.common import artifact_key
from tests.directory._data import small_state

TENANT_ID = "0f0e0d0c-0b0a-4999-8888-777766665555"


def _block(domain: str = "Contoso.OnMicrosoft.com") -> M365Tenant:
    return M365Tenant.model_construct(tenant_id=TENANT_ID, primary_domain=domain.lower())


def test_artifact_keys_are_per_tenant_with_the_block_name_slug() -> None:
    block = _block()
    key = artifact_key("historic-scan-summary", block)
    assert key == f"historic-scan-summary-{block.block_name}" == "historic-scan-summary-contoso-onmicrosoft-com"
    assert artifact_key("historic-scan-summary", "Contoso.OnMicrosoft.com") == key  # by domain too
    assert artifact_key("historic-scan-summary", _block("fabrikam.com")) != key
    assert re.fullmatch(r"[a-z0-9-]+", artifact_key("Odd_Kind", "x.example"))


def test_address_book_gives_each_mailbox_its_address_and_unknown_ids_stay_ids() -> None:
    book = AddressBook.from_state(small_state())
    assert book.addresses_of(["ann", "bob", "no-such-id"]) == {
        "ann": "ann@contoso.com", "bob": "bob@contoso.com", "no-such-id": "no-such-id"}


def test_takeover_summary_leaves_out_empty_sections() -> None:
    from tasks.takeover import summary_markdown

    user = {"upn": "ann@contoso.com", "id": "ann"}
    steps = [{"step": "remove_rules", "result": "done", "detail": "0 removed", "items": []},
             {"step": "review_sent_items", "result": "done", "detail": "0 sent", "items": []}]
    md = summary_markdown(_block(), user, steps, "approved")
    assert "## Sent items" not in md and "## Rules" not in md
    steps[1]["items"] = [{"sent": "2026-01-01", "subject": "invoice", "to": ["x@partner.example"]}]
    assert "## Sent items reviewed (1)" in summary_markdown(_block(), user, steps, "approved")


def test_approval_form_names_the_request_and_offers_only_the_waiting_steps() -> None:
    from prefect._internal.pydantic.v2_schema import create_v2_schema
    from pydantic import ValidationError

    from flows.takeover_response import approval_form
    from tasks.takeover import approval_markdown

    ask = ["reset_password", "disable_account"]
    text = approval_markdown(_block(), {"upn": "ann@contoso.com", "id": "ann"},
                             {"rule_key": "graph:r1", "risk": "high", "reasons": ["forwards outside"]},
                             ask, ["remove_rules"])
    shown = re.sub(r"\\(.)", r"\1", text)  # as rendered: escapes (of text from outside) show as the character
    for part in ("contoso.onmicrosoft.com", "ann@contoso.com", "graph:r1", "forwards outside", *ask,
                 "remove_rules"):
        assert part in shown
    form = approval_form(ask, text)
    assert form._description == text  # Prefect saves it with the schema: the UI shows it above the form
    schema = create_v2_schema(form.__name__, model_base=form)
    assert schema["properties"]["skip"]["items"]["enum"] == ask
    assert form(skip=["disable_account"]).approve is True
    with pytest.raises(ValidationError):
        form(skip=["remove_rules"])


def test_consent_form_fields_have_titles_and_descriptions() -> None:
    from prefect._internal.pydantic.v2_schema import create_v2_schema

    from flows.onboarding import ConsentResult

    props = create_v2_schema("ConsentResult", model_base=ConsentResult)["properties"]
    assert set(props) >= {"granted", "tenant_id", "error", "error_description", "tier", "timed_out"}
    for name, prop in props.items():
        assert prop.get("title") and prop.get("description"), name
