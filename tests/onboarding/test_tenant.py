"""Tenant references, primary domain, and the same-tenant check after consent."""

from __future__ import annotations

from typing import Any

import pytest

from mailwarden.onboarding import check_same_tenant, normalize_tenant_ref, primary_domain, verified_domains

TID = "3c5a2b1e-1111-4222-8333-944455556666"
ORG = {
    "value": [
        {
            "verifiedDomains": [
                {"name": "contoso.onmicrosoft.com", "isInitial": True, "isDefault": False},
                {"name": "Contoso.com", "isInitial": False, "isDefault": True},
            ]
        }
    ]
}


@pytest.mark.parametrize("ref", ["Contoso.COM", f" {TID.upper()} ", "a.b.co"])
def test_guid_or_domain_is_accepted_lowercased(ref: str) -> None:
    assert normalize_tenant_ref(ref) == ref.strip().lower()


@pytest.mark.parametrize(
    "ref", ["", "contoso", "not a domain!", "contoso.com/evil", "-x.com", "x" * 300 + ".com"]
)
def test_anything_else_is_refused(ref: str) -> None:
    with pytest.raises(ValueError):
        normalize_tenant_ref(ref)


def test_primary_domain_prefers_the_default_then_the_initial_domain() -> None:
    assert primary_domain(ORG) == "contoso.com"
    only_initial = {"verifiedDomains": [{"name": "x.onmicrosoft.com", "isInitial": True}]}
    assert primary_domain(only_initial) == "x.onmicrosoft.com"
    assert primary_domain({"verifiedDomains": []}, fallback="y.com") == "y.com"
    with pytest.raises(ValueError):
        primary_domain({"verifiedDomains": []}, fallback=TID)
    assert verified_domains(ORG) == ["contoso.onmicrosoft.com", "contoso.com"]


def test_consent_from_another_tenant_is_refused() -> None:
    check_same_tenant(TID, TID, None)
    check_same_tenant("contoso.com", TID, ORG)
    with pytest.raises(ValueError, match="not"):
        check_same_tenant("3c5a2b1e-1111-4222-8333-000000000000", TID, None)
    with pytest.raises(ValueError, match=r"fabrikam\.com"):
        check_same_tenant("fabrikam.com", TID, ORG)


def test_the_tenant_id_is_read_from_the_issuer_of_the_discovery_document() -> None:
    from mailwarden.onboarding.tenant import tenant_id_from_openid_configuration

    guid = "6f1c2a3b-0000-4000-8000-00000000abcd"
    assert tenant_id_from_openid_configuration({"issuer": f"https://login.example/{guid.upper()}/v2.0"}) == guid
    with pytest.raises(ValueError, match="no tenant id"):
        tenant_id_from_openid_configuration({"issuer": "https://login.example/common/v2.0"})


def test_a_domain_resolves_to_its_tenant_through_public_discovery_and_an_unknown_one_is_refused(
        embedded: Any) -> None:
    from mailwarden.onboarding import discover_tenant_id

    _, state = embedded.add_tenant(seed=71, users=10, consent=None)
    url, ca = embedded.url, embedded.ca_file
    assert discover_tenant_id(state.domain.upper(), url, verify=ca) == state.id
    with pytest.raises(ValueError, match="no Microsoft 365 tenant has the domain"):
        discover_tenant_id("nobody-here.example", url, verify=ca)
