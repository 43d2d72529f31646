"""Value types of the detection engine: categories, reasons, verdicts and the tenant context."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

DEFAULT_BRAND_DOMAINS = frozenset(
    {
        "microsoft.com",
        "office.com",
        "office365.com",
        "outlook.com",
        "live.com",
        "sharepoint.com",
        "microsoftonline.com",
        "onedrive.com",
        "paypal.com",
        "apple.com",
        "icloud.com",
        "amazon.com",
        "docusign.net",
        "docusign.com",
        "dhl.com",
        "fedex.com",
        "ups.com",
        "usps.com",
        "google.com",
        "netflix.com",
        "adobe.com",
        "dropbox.com",
        "linkedin.com",
        "facebook.com",
        "instagram.com",
        "wellsfargo.com",
        "chase.com",
        "bankofamerica.com",
        "coinbase.com",
        "binance.com",
    }
)


class Category(StrEnum):
    """What a message is, from most to least dangerous."""

    MALICIOUS = "malicious"
    SUSPICIOUS = "suspicious"
    SPAM = "spam"
    GRAYMAIL = "graymail"
    EXTERNAL = "external/unfamiliar"
    CLEAN = "clean"


@dataclass(frozen=True)
class Reason:
    """One signal that fired: a stable code, a short operator-facing detail, and its weight."""

    code: str
    detail: str
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, "weight": self.weight}


@dataclass(frozen=True)
class Verdict:
    """The result of :func:`classify`: a category, the threat score, and every reason that fired."""

    category: Category
    score: float
    reasons: tuple[Reason, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": str(self.category),
            "score": self.score,
            "reasons": [r.to_dict() for r in self.reasons],
        }


def _lowset(values: Any) -> frozenset[str]:
    return frozenset(str(v).strip().lower() for v in (values or ()) if v)


@dataclass
class IndicatorSet:
    """Known-bad indicators: URLs, domains, attachment SHA-256 hashes and sender addresses."""

    urls: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()
    sha256: frozenset[str] = frozenset()
    senders: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.urls = frozenset(u.rstrip("/") for u in _lowset(self.urls))
        self.domains = frozenset(d.strip(".") for d in _lowset(self.domains))
        self.sha256 = _lowset(self.sha256)
        self.senders = _lowset(self.senders)

    def __bool__(self) -> bool:
        return bool(self.urls or self.domains or self.sha256 or self.senders)


@dataclass
class DetectionContext:
    """What the engine knows about the protected tenant."""

    tenant_domains: frozenset[str] = frozenset()
    internal_addresses: frozenset[str] = frozenset()
    internal_display_names: dict[str, str] = field(default_factory=dict)
    executives: frozenset[str] = frozenset()
    known_brand_domains: frozenset[str] = DEFAULT_BRAND_DOMAINS
    iocs: IndicatorSet = field(default_factory=IndicatorSet)

    def __post_init__(self) -> None:
        self.tenant_domains = _lowset(self.tenant_domains)
        self.internal_addresses = _lowset(self.internal_addresses)
        self.internal_display_names = {
            " ".join(str(k).lower().split()): str(v).lower()
            for k, v in (self.internal_display_names or {}).items()
            if k
        }
        self.executives = frozenset(" ".join(str(n).lower().split()) for n in (self.executives or ()) if n)
        self.known_brand_domains = _lowset(self.known_brand_domains)
