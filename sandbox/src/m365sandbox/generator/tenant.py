"""The seeded sandbox tenant generator: ``generate_tenant(seed=1, users=50)`` -> :class:`TenantSeed`.

Same arguments, same tenant, byte for byte: every random choice comes from ``random.Random``
streams derived from ``seed`` (one per part, so asking for more mail does not change the
directory), ids are drawn from them, and "now" is a fixed ``start`` unless one is given.

Parts: :mod:`~m365sandbox.generator.directory` (users, groups, licences, recipients),
:mod:`~m365sandbox.generator.mail` (folders, benign and phishing mail, sent items, campaigns,
the recall fixture, real ``.eml`` mail), :mod:`~m365sandbox.generator.rules` (inbox rules,
hidden rules, mailbox forwarding). What is malicious is written to :class:`GroundTruth`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from m365sandbox.generator.common import DEFAULT_START, ORG_NAMES, iso, new_uuid
from m365sandbox.generator.directory import build_directory, move_on_premises
from m365sandbox.generator.mail import RealMail, build_mailboxes
from m365sandbox.generator.rules import plant_rules
from m365sandbox.seed import GroundTruth, TenantSeed

__all__ = ["generate_tenant"]

RealMailArg = str | Path | Sequence[tuple[str | Path, str]] | None
CLOUDS = ("global", "usgov-gcchigh", "usgov-dod", "china")


def _stream(seed: int, part: str) -> random.Random:
    # The stream names are part of every seed's output: renaming them would change every tenant.
    return random.Random(f"mailwarden-sandbox:{seed}:{part}")


def generate_tenant(
    *,
    seed: int = 1,
    users: int = 50,
    domain: str | None = None,
    tenant_id: str | None = None,
    cloud: str = "global",
    messages_per_mailbox: int = 20,
    phishing_rate: float = 0.1,
    real_mail: RealMailArg = None,
    real_mail_share: float = 0.5,
    groups: int | None = None,
    start: datetime | None = None,
    onprem_share: float = 0.0,
) -> TenantSeed:
    """Build a realistic tenant of ``users`` user objects (members, executives, shared, room and
    equipment mailboxes, guests, disabled and unlicensed users) and ``groups`` groups.

    ``real_mail`` is a directory or ``.tar.gz`` of ``.eml`` files, or a list of ``(source, label)``
    pairs (label ``"phishing"`` or ``"legitimate"``); ``real_mail_share`` of the external inbound
    mail is then drawn from it (labels go to ``truth.labels``). ``onprem_share`` of the member and
    executive mailboxes live on an on-premises Exchange (hybrid: reachable through EWS only).
    Raises ``ValueError`` on impossible sizes or an unknown cloud.
    """
    if cloud not in CLOUDS:
        raise ValueError(f"unknown cloud {cloud!r}")
    if not 0.0 <= phishing_rate <= 1.0 or not 0.0 <= real_mail_share <= 1.0:
        raise ValueError("phishing_rate and real_mail_share are fractions between 0 and 1")
    if not 0.0 <= onprem_share <= 1.0:
        raise ValueError("onprem_share is a fraction between 0 and 1")
    if messages_per_mailbox < 0:
        raise ValueError("messages_per_mailbox must not be negative")
    start = (start or DEFAULT_START).astimezone(UTC)
    rng = _stream(seed, "tenant")
    org = ORG_NAMES[rng.randrange(len(ORG_NAMES))]
    tid = tenant_id or new_uuid(rng)
    domain = (domain or f"{org}-{abs(seed)}.example").lower()
    initial = f"{domain.split('.')[0].replace('-', '')}.onmicrosoft.example"
    display_name = f"{domain.split('.')[0].replace('-', ' ').title()} Ltd"
    n_groups = groups if groups is not None else max(10, min(users // 8, 3000))
    d = build_directory(
        _stream(seed, "directory"),
        tenant_id=tid,
        domain=domain,
        initial_domain=initial,
        users=users,
        groups=n_groups,
        start=start,
    )
    truth = GroundTruth(protected_mailboxes=d.protected(), executives=set(d.executives))
    real = RealMail.load(real_mail, real_mail_share) if real_mail is not None else None
    mailboxes = build_mailboxes(
        _stream(seed, "mail"),
        d,
        truth,
        start=start,
        messages_per_mailbox=messages_per_mailbox,
        phishing_rate=phishing_rate,
        real=real,
    )
    plant_rules(_stream(seed, "rules"), d, mailboxes, truth)
    move_on_premises(_stream(seed, "onprem"), d, onprem_share)
    organization = {
        "id": tid,
        "displayName": display_name,
        "tenantType": "AAD",
        "countryLetterCode": "US",
        "createdDateTime": iso(start.replace(year=start.year - 6)),
        "onPremisesSyncEnabled": True,
        "preferredLanguage": "en",
        "verifiedDomains": [
            {
                "capabilities": "Email, OfficeCommunicationsOnline",
                "isDefault": True,
                "isInitial": False,
                "name": domain,
                "type": "Managed",
            },
            {
                "capabilities": "Email, OfficeCommunicationsOnline",
                "isDefault": False,
                "isInitial": True,
                "name": initial,
                "type": "Managed",
            },
        ],
    }
    return TenantSeed(
        tenant_id=tid,
        domain=domain,
        display_name=display_name,
        cloud=cloud,
        organization=organization,
        users=d.users,
        groups=d.groups,
        members=d.members,
        skus=d.skus,
        recipients=d.recipients,
        mailboxes=mailboxes,
        truth=truth,
    )

