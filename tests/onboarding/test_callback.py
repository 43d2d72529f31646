"""Parsing the consent redirect: grants, refusals and malformed callbacks."""

from __future__ import annotations

import pytest

from mailwarden.onboarding import CallbackError, parse_callback

STATE = "abcdefghijklmnopqrstuvwxyz0123456789-_ABCDE"
TENANT = "3c5a2b1e-1111-4222-8333-944455556666"


def test_grant_yields_lowercased_tenant_guid() -> None:
    state, outcome = parse_callback({"admin_consent": "True", "tenant": TENANT.upper(), "state": STATE})
    assert state == STATE
    assert outcome.granted and outcome.tenant_id == TENANT
    assert outcome.to_run_input("basic") == {
        "granted": True,
        "tenant_id": TENANT,
        "error": None,
        "error_description": None,
        "tier": "basic",
    }


def test_refusal_keeps_the_admins_reason_without_control_characters() -> None:
    _, outcome = parse_callback(
        {"error": "access_denied", "error_description": "The admin canceled\r\nthe request", "state": STATE}
    )
    assert not outcome.granted
    assert outcome.error == "access_denied"
    assert outcome.error_description == "The admin canceled  the request"
    assert "canceled" in outcome.reason


def test_long_error_description_is_capped() -> None:
    _, outcome = parse_callback({"error": "x", "error_description": "y" * 5000, "state": STATE})
    assert outcome.error_description is not None and len(outcome.error_description) == 500


@pytest.mark.parametrize(
    "query",
    [
        {"admin_consent": "True", "tenant": TENANT},  # no state
        {"admin_consent": "True", "tenant": TENANT, "state": "short"},
        {"admin_consent": "True", "tenant": TENANT, "state": "bad state with spaces and more!!"},
        {"state": STATE},  # neither
        {"admin_consent": "False", "tenant": TENANT, "state": STATE},
        {"admin_consent": "True", "tenant": "contoso.com", "state": STATE},
        {"admin_consent": "True", "state": STATE},
        {"admin_consent": "True", "tenant": TENANT, "error": "x", "state": STATE},
    ],
)
def test_malformed_callbacks_are_refused(query: dict[str, str]) -> None:
    with pytest.raises(CallbackError):
        parse_callback(query)
