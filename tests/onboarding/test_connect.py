"""The onboarding request: its checks, the consents to ask for, what a consent answer means, the notices."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mailwarden.onboarding import (
    ConsentRefused,
    ConsentTimeout,
    ReadinessOptions,
    Tier,
    check_request,
    check_store_url,
    connected_notice,
    expected_tenant_id,
    final_tier,
    granted_tenant,
    offboarded_notice,
    plan_consents,
)

TID = "3f1c2a9e-7b4d-4e2a-9c1f-0a5b6c7d8e9f"
OTHER = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"


@dataclass
class _Connected:
    tenant_id: str = TID
    advanced_app: object | None = None


def _check(**kw: object) -> str:
    args: dict[str, object] = {"consent_timeout_minutes": 30.0, "readiness": ReadinessOptions(),
                               "admin_email": None, "store_url": None}
    return check_request(str(kw.pop("tenant", "Contoso.Example.com ")), **{**args, **kw})  # type: ignore[arg-type]


def test_a_good_request_gives_the_normalized_tenant() -> None:
    assert _check() == "contoso.example.com"
    assert _check(tenant=TID.upper(), admin_email="admin@contoso.example.com",
                  store_url="postgresql://mw@db/contoso") == TID


@pytest.mark.parametrize(("bad", "message"), [
    ({"tenant": "not a domain!"}, "neither a tenant GUID nor a domain"),
    ({"consent_timeout_minutes": 0}, "consent_timeout_minutes must be positive"),
    ({"consent_timeout_minutes": float("nan")}, "consent_timeout_minutes must be positive"),
    ({"readiness": ReadinessOptions(initial_delay=10, max_delay=5)}, "max_delay must be at least"),
    ({"admin_email": "nobody"}, "admin_email must be a mail address"),
    ({"store_url": "postgresql://u:s3cr3t@db/x"}, r"must not carry a password.*user info"),
])
def test_each_bad_parameter_is_named(bad: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _check(**bad)


@pytest.mark.parametrize("url", ["postgresql://u@db/x?password=s3cr3t", "postgresql://u@db/x?PGPASSWORD=s3cr3t",
                                 "mysql://u@db/x?db_passwd=s3cr3t"])
def test_a_password_in_the_query_string_is_refused_without_echoing_it(url: str) -> None:
    with pytest.raises(ValueError, match="query string") as caught:
        check_store_url(url)
    assert "s3cr3t" not in str(caught.value)


def test_store_url_that_is_no_url_is_refused_and_none_is_none() -> None:
    with pytest.raises(ValueError, match="not a database URL"):
        check_store_url("::not a url::")
    assert check_store_url(None) is None and check_store_url("") is None
    assert check_store_url("sqlite:///tenant.db") == "sqlite:///tenant.db"


def test_consents_are_those_the_tier_needs_minus_what_a_connected_tenant_has() -> None:
    assert plan_consents("basic", None, update=False) == [Tier.BASIC]
    assert plan_consents("advanced", None, update=False) == [Tier.BASIC, Tier.ADVANCED]
    basic = _Connected()
    assert plan_consents("basic", basic, update=False) == []
    assert plan_consents("advanced", basic, update=False) == [Tier.ADVANCED]
    assert plan_consents("advanced", _Connected(advanced_app=object()), update=False) == []
    assert plan_consents("advanced", _Connected(advanced_app=object()), update=True) == [Tier.BASIC, Tier.ADVANCED]


def test_the_expected_tenant_is_the_connected_one_or_the_guid_asked_for() -> None:
    assert expected_tenant_id("contoso.example.com", _Connected()) == TID
    assert expected_tenant_id(OTHER, None) == OTHER
    assert expected_tenant_id("contoso.example.com", None) is None


def test_a_grant_names_its_tenant_and_must_be_the_expected_one() -> None:
    assert granted_tenant("contoso.example.com", Tier.BASIC, granted=True, tenant_id=TID) == TID
    assert granted_tenant("contoso.example.com", Tier.BASIC, granted=True, tenant_id=TID, expected=TID.upper()) == TID
    with pytest.raises(ConsentRefused, match=f"from tenant {OTHER}, not {TID}"):
        granted_tenant("contoso.example.com", Tier.BASIC, granted=True, tenant_id=OTHER, expected=TID)
    for missing in (None, "", "contoso.example.com"):
        with pytest.raises(ConsentRefused, match="did not name the tenant"):
            granted_tenant("contoso.example.com", Tier.BASIC, granted=True, tenant_id=missing)


def test_a_refusal_carries_the_admins_reason() -> None:
    with pytest.raises(ConsentRefused, match=r"did not grant the advanced permissions: access_denied: canceled"):
        granted_tenant("contoso.example.com", Tier.ADVANCED, granted=False, tenant_id=TID,
                       error="access_denied", error_description="canceled")
    with pytest.raises(ConsentRefused, match="error: no reason given"):
        granted_tenant("contoso.example.com", Tier.BASIC, granted=False, tenant_id=None)


def test_the_timeout_says_how_to_try_again() -> None:
    message = str(ConsentTimeout.after("contoso.example.com", Tier.BASIC, 2.5))
    assert message.startswith("no consent for the basic app within 2.5 minutes")
    assert "re-running onboard-tenant for contoso.example.com" in message


def test_notices_name_the_tenant_tier_and_readiness() -> None:
    rows = [{"capability": "directory.read", "status": "ready", "detail": "ok"}]
    subject, body = connected_notice("contoso.example.com", TID, "global", final_tier(object()), rows, updated=False)
    assert subject == "mailwarden: contoso.example.com connected"
    assert "at the advanced tier" in body and body.endswith("- directory.read: ready (ok)")
    assert connected_notice("c.example", TID, "china", final_tier(None), [], updated=True)[0].endswith("updated")
    assert final_tier(None) == "basic"
    subject, body = offboarded_notice("contoso.example.com", TID, purged=True)
    assert "disconnected" in subject and "was purged" in body and TID in body
    assert "was kept" in offboarded_notice("contoso.example.com", TID, purged=False)[1]
