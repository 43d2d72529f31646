"""The :class:`Sandbox`: app registrations, tenants, consents, faults, throttling, the clock.

Admin consent tiers: one app registration carries several permission tiers (``basic``,
``advanced``). Azure AD itself grants an app's statically configured permissions on
``/adminconsent`` (v2: ``scope={resource}/.default``); the sandbox reads which tier to grant
from an extra query parameter on the same request, ``sandbox_tier`` (also read under the name
``mailwarden_tier``, which existing clients send; default ``basic``). Real Azure AD ignores
unknown parameters, so the same consent URL works against both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from m365sandbox.faults import Faults
from m365sandbox.generator import generate_tenant
from m365sandbox.seed import TenantSeed
from m365sandbox.state import Consent, TenantState
from m365sandbox.throttle import PROFILES, Profile, Throttler

BASIC_ROLES: tuple[str, ...] = (
    "User.Read.All", "GroupMember.Read.All", "Organization.Read.All", "Mail.ReadWrite",
    "MailboxSettings.Read", "Mail.Send", "Exchange.ManageAsApp")
ADVANCED_ROLES: tuple[str, ...] = (
    *BASIC_ROLES, "MailboxSettings.ReadWrite", "User.ReadWrite.All", "User.RevokeSessions.All")
DEFAULT_TIERS: dict[str, tuple[str, ...]] = {"basic": BASIC_ROLES, "advanced": ADVANCED_ROLES}


class Clock:
    """Wall clock by default; tests ``set``/``advance`` it instead of sleeping."""

    def __init__(self, start: float | None = None) -> None:
        self._fixed = start

    def __call__(self) -> float:
        return time.time() if self._fixed is None else self._fixed

    def set(self, value: float) -> None:
        self._fixed = value

    def advance(self, seconds: float) -> None:
        self._fixed = self() + seconds


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(value: Any) -> bytes | None:
    """Bytes of a base64 or base64url thumbprint header (msal sends padded standard base64)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("+", "-").replace("/", "_").rstrip("=")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        return None


@dataclass
class AppRegistration:
    """A multi-tenant app: credentials, redirect URIs and permission tiers."""

    client_id: str
    secret_hashes: list[bytes] = field(default_factory=list, repr=False)
    certificates: list[x509.Certificate] = field(default_factory=list, repr=False)
    redirect_uris: list[str] = field(default_factory=list)
    tiers: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_TIERS))
    display_name: str = "m365-sandbox app"
    """What tokens carry as ``app_displayname``."""

    def check_secret(self, secret: str) -> bool:
        digest = hashlib.sha256(secret.encode()).digest()
        return any(hmac.compare_digest(digest, h) for h in self.secret_hashes)

    def certificate_for(self, header: dict[str, Any]) -> x509.Certificate | None:
        """The registered certificate a client assertion's ``x5t``/``x5t#S256`` names."""
        sha1, sha256 = _unb64(header.get("x5t")), _unb64(header.get("x5t#S256"))
        for cert in self.certificates:
            if sha1 and sha1 == cert.fingerprint(hashes.SHA1()):  # noqa: S303 - x5t is SHA-1 by spec
                return cert
            if sha256 and sha256 == cert.fingerprint(hashes.SHA256()):
                return cert
        return None


@dataclass
class SigningKey:
    """The RSA key that signs access tokens, published in the JWKS."""

    private_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        repr=False)
    kid: str = field(default_factory=lambda: secrets.token_hex(8))

    @property
    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())

    def jwk(self) -> dict[str, Any]:
        nums = self.private_key.public_key().public_numbers()

        def enc(n: int) -> str:
            return _b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))

        return {"kty": "RSA", "use": "sig", "kid": self.kid, "alg": "RS256",
                "n": enc(nums.n), "e": enc(nums.e)}


class Sandbox:
    """All sandbox tenants and the apps that may call them (thread-safe)."""

    def __init__(self, profile: str | Profile = "fast", *, clock: Callable[[], float] | None = None,
                 token_lifetime: int = 3600) -> None:
        self.clock: Callable[[], float] = clock or Clock()
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        self.throttler = Throttler(self.profile, self.clock)
        self.faults = Faults(self)
        self.signing_key = SigningKey()
        self.token_lifetime = token_lifetime
        self.apps: dict[str, AppRegistration] = {}
        self.tenants: dict[str, TenantState] = {}
        self.lock = threading.RLock()

    # -- apps and tenants ------------------------------------------------------------------

    def register_app(self, client_id: str, *, secret: str | None = None,
                     certificate_pem: str | bytes | None = None,
                     redirect_uris: Iterable[str] = (),
                     tiers: dict[str, Iterable[str]] | None = None,
                     display_name: str | None = None) -> AppRegistration:
        """Register (or extend) an app with a secret and/or a public certificate."""
        with self.lock:
            app = self.apps.setdefault(client_id, AppRegistration(client_id))
            if display_name is not None:
                app.display_name = display_name
            if secret is not None:
                app.secret_hashes.append(hashlib.sha256(secret.encode()).digest())
            if certificate_pem is not None:
                pem = certificate_pem.encode() if isinstance(certificate_pem, str) else certificate_pem
                app.certificates.append(x509.load_pem_x509_certificate(pem))
            app.redirect_uris.extend(u for u in redirect_uris if u not in app.redirect_uris)
            if tiers is not None:
                app.tiers = {k: tuple(v) for k, v in tiers.items()}
            return app

    def add_tenant(self, seed: TenantSeed) -> TenantState:
        """Load a seed as a new tenant."""
        tenant = TenantState.from_seed(seed)
        with self.lock:
            if tenant.id in self.tenants:
                raise ValueError(f"tenant {tenant.id} already exists")
            self.tenants[tenant.id] = tenant
        return tenant

    def add_generated_tenant(self, **kwargs: Any) -> TenantState:
        """Generate a tenant with :func:`m365sandbox.generator.generate_tenant` (``**kwargs``)."""
        return self.add_tenant(generate_tenant(**kwargs))

    def find_tenant(self, ref: str) -> TenantState | None:
        """A tenant by GUID or by any verified domain (case-insensitive)."""
        with self.lock:
            if ref in self.tenants:
                return self.tenants[ref]
            low = ref.lower()
            for t in self.tenants.values():
                if t.id.lower() == low or low in t.domains:
                    return t
        return None

    def tenant(self, tenant_id: str) -> TenantState:
        t = self.find_tenant(tenant_id)
        if t is None:
            raise KeyError(tenant_id)
        return t

    # -- consent ---------------------------------------------------------------------------

    def grant_consent(self, tenant_id: str, client_id: str, tier: str = "basic", *,
                      propagation_seconds: float = 0.0) -> Consent:
        """What a successful /adminconsent does; effective after ``propagation_seconds``."""
        app = self.apps[client_id]
        if tier not in app.tiers:
            raise ValueError(f"unknown tier {tier!r}")
        t = self.tenant(tenant_id)
        consent = Consent(tier, frozenset(app.tiers[tier]), self.clock() + propagation_seconds)
        with t.lock:
            t.consents[client_id] = consent
        return consent

    def set_propagation_delay(self, tenant_id: str, client_id: str, seconds: float) -> None:
        """Make an existing consent effective only ``seconds`` from now."""
        t = self.tenant(tenant_id)
        with t.lock:
            t.consents[client_id].effective_at = self.clock() + seconds

    def set_consent_propagation(self, tenant_id: str, seconds: float) -> None:
        """Consents granted later through /adminconsent take ``seconds`` to become effective."""
        t = self.tenant(tenant_id)
        with t.lock:
            t.consent_propagation_seconds = seconds

    def revoke_consent(self, tenant_id: str, client_id: str | None = None) -> None:
        """Remove the consent of one app (or all) in a tenant."""
        t = self.tenant(tenant_id)
        with t.lock:
            if client_id is None:
                t.consents.clear()
            else:
                t.consents.pop(client_id, None)

    def deny_consent(self, tenant_id: str, description: str | None = "The admin canceled the request") \
            -> None:
        """Make /adminconsent refuse (``access_denied``); ``None`` lifts the switch."""
        t = self.tenant(tenant_id)
        with t.lock:
            t.deny_consent = description

    def expire_tokens(self, tenant_id: str) -> None:
        """Invalidate every token already issued for the tenant."""
        t = self.tenant(tenant_id)
        with t.lock:
            t.revoked_tokens |= t.issued_tokens
            t.issued_tokens.clear()

    def reset(self) -> None:
        """Drop every tenant, fault and throttling counter (apps stay registered)."""
        with self.lock:
            self.tenants.clear()
        self.faults.clear()
        self.throttler.reset()

    # -- injection and ground truth --------------------------------------------------------

    def _mailbox(self, tenant_id: str, user: str) -> tuple[TenantState, str, Any]:
        t = self.tenant(tenant_id)
        u = t.find_user(user)
        if u is None or u["id"] not in t.mailboxes:
            raise KeyError(f"no mailbox {user!r} in tenant {tenant_id}")
        return t, u["id"], t.mailboxes[u["id"]]

    def inject_message(self, tenant_id: str, user: str, message: dict[str, Any],
                       folder: str = "inbox") -> Any:
        """Deliver a Graph message into a mailbox folder (``MailboxState.inject_message``)."""
        t, _, mb = self._mailbox(tenant_id, user)
        with t.lock:
            return mb.inject_message(message, folder)

    def inject_rule(self, tenant_id: str, user: str, rule: dict[str, Any], *, hidden: bool = False) \
            -> dict[str, Any]:
        """Add a Graph messageRule (or, hidden, a Get-InboxRule object) to a mailbox."""
        t, _, mb = self._mailbox(tenant_id, user)
        with t.lock:
            if hidden:
                mb.hidden_rules.append(dict(rule))
            else:
                rule = dict(rule)
                rule.setdefault("id", base64.b64encode(secrets.token_bytes(8)).decode())
                mb.rules[rule["id"]] = rule
        return rule

    def set_mailbox_settings(self, tenant_id: str, user: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Change a mailbox's Graph ``mailboxSettings`` (e.g. switch automatic replies on)."""
        t, uid, mb = self._mailbox(tenant_id, user)
        recipient = t.recipients.get(uid) or {}
        return mb.update_settings(t.users[uid], recipient.get("RecipientTypeDetails"), patch)

    def ground_truth(self, tenant_id: str) -> dict[str, Any]:
        """What the generator planted plus what clients did (JSON-ready; for tests only)."""
        t = self.tenant(tenant_id)
        truth = t.truth
        with t.lock:
            return {
                "malicious_message_ids": sorted(truth.malicious_message_ids),
                "malicious_internet_message_ids": sorted(truth.malicious_internet_message_ids),
                "benign_message_ids": sorted(truth.benign_message_ids),
                "malicious_rules": sorted(list(r) for r in truth.malicious_rules),
                "benign_rules": sorted(list(r) for r in truth.benign_rules),
                "external_forwarding": dict(truth.external_forwarding),
                "protected_mailboxes": sorted(truth.protected_mailboxes),
                "executives": sorted(truth.executives),
                "password_changes": [{"user_id": p.user_id, "at": p.at} for p in t.password_changes],
                "disabled_users": sorted(uid for uid, u in t.users.items()
                                         if u.get("accountEnabled") is False),
                "sessions_revoked": sorted(uid for uid, u in t.users.items()
                                           if u.get("signInSessionsValidFromDateTime")),
                "deleted_users": sorted(t.deleted_users),
                "forwarding": {oid: r.get("ForwardingSmtpAddress") for oid, r in t.recipients.items()
                               if r.get("ForwardingSmtpAddress")},
            }

    def expire_delta_tokens(self, tenant_id: str) -> None:
        """Make every delta/skip token of the tenant answer 410 syncStateNotFound."""
        t = self.tenant(tenant_id)
        with t.lock:
            t.delta_epoch += 1
