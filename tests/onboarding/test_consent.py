"""Consent URLs per cloud and tier, and the OAuth state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from mailwarden.graph import endpoints_for
from mailwarden.onboarding import (
    Tier,
    admin_consent_url,
    new_consent_link,
    new_state,
    state_digest,
    tiers_to_consent,
)

CLIENT = "6d1f6a3e-5c1b-4d55-9d7e-0b7a0c6e1a01"
REDIRECT = "http://127.0.0.1:8766/consent/callback"


@dataclass(frozen=True)
class _Endpoints:
    login_url: str = "https://login.microsoftonline.com"
    graph_resource: str = "https://graph.microsoft.com"


def test_state_is_fresh_urlsafe_and_256_bits() -> None:
    states = {new_state() for _ in range(50)}
    assert len(states) == 50
    for s in states:
        assert len(s) == 43 and all(c.isalnum() or c in "-_" for c in s)


def test_state_digest_is_sha256_hex_and_never_the_state() -> None:
    s = new_state()
    d = state_digest(s)
    assert len(d) == 64 and s not in d and d == state_digest(s)


def test_v1_url_carries_client_redirect_state_and_tier() -> None:
    url = admin_consent_url(
        _Endpoints(), "contoso.com", CLIENT, REDIRECT, "st-ate_1234567890", tier="advanced"
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "login.microsoftonline.com",
        "/contoso.com/adminconsent",
    )
    q = parse_qs(parts.query)
    assert q == {
        "client_id": [CLIENT],
        "redirect_uri": [REDIRECT],
        "state": ["st-ate_1234567890"],
        "mailwarden_tier": ["advanced"],
    }


def test_v2_url_asks_for_the_clouds_graph_default_scope() -> None:
    eps = _Endpoints("https://login.microsoftonline.us", "https://graph.microsoft.us")
    url = admin_consent_url(eps, "organizations", CLIENT, REDIRECT, "s" * 43, v2=True)
    parts = urlsplit(url)
    assert parts.netloc == "login.microsoftonline.us" and parts.path == "/organizations/v2.0/adminconsent"
    assert parse_qs(parts.query)["scope"] == ["https://graph.microsoft.us/.default"]


@pytest.mark.parametrize(
    ("tenant", "redirect", "state"),
    [
        ("", REDIRECT, "x" * 43),
        ("a/b", REDIRECT, "x" * 43),
        ("contoso.com", "javascript:alert(1)", "x" * 43),
        ("contoso.com", REDIRECT, ""),
    ],
)
def test_url_refuses_malformed_inputs(tenant: str, redirect: str, state: str) -> None:
    with pytest.raises(ValueError):
        admin_consent_url(_Endpoints(), tenant, CLIENT, redirect, state)


def test_advanced_tier_needs_basic_then_advanced_consent() -> None:
    assert tiers_to_consent("basic") == [Tier.BASIC]
    assert tiers_to_consent(Tier.ADVANCED) == [Tier.BASIC, Tier.ADVANCED]
    with pytest.raises(ValueError):
        tiers_to_consent("root")


def test_consent_link_hides_url_and_state_from_repr_and_expires() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    link = new_consent_link(
        _Endpoints(), "contoso.com", CLIENT, REDIRECT, tier="basic", valid_for=timedelta(minutes=30), now=now
    )
    assert link.state in link.url
    assert link.state not in repr(link)
    assert link.expires_at == now + timedelta(minutes=30)
    assert link.state_hash == state_digest(link.state)


@pytest.mark.parametrize(
    ("cloud", "login", "graph"),
    [
        ("global", "login.microsoftonline.com", "https://graph.microsoft.com/.default"),
        ("usgov-gcchigh", "login.microsoftonline.us", "https://graph.microsoft.us/.default"),
        ("usgov-dod", "login.microsoftonline.us", "https://dod-graph.microsoft.us/.default"),
        ("china", "login.partner.microsoftonline.cn", "https://microsoftgraph.chinacloudapi.cn/.default"),
    ],
)
def test_each_cloud_builds_its_own_login_host_and_scope(cloud: str, login: str, graph: str) -> None:
    eps = endpoints_for(cloud)
    url = admin_consent_url(eps, "contoso.com", CLIENT, REDIRECT, "x" * 43, v2=True)
    parts = urlsplit(url)
    assert parts.netloc == login
    assert parse_qs(parts.query)["scope"] == [graph]
