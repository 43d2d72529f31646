"""Detection policy: every weight, threshold, list and phrase the engine uses, as plain data.

A policy round-trips through a JSON-compatible dict (``from_dict`` / ``to_dict``) and files
(``load_policy`` / ``dump_policy``). The shipped default is ``default_policy.json`` beside this
module. Unknown keys in a dict are rejected so typos do not silently change behaviour; missing
keys take the default's value. Treat a built policy as immutable: its regexes are compiled once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.json")

_LIST_FIELDS = (
    "hard_codes",
    "bulk_codes",
    "spam_codes",
    "dangerous_extensions",
    "html_extensions",
    "macro_extensions",
    "archive_extensions",
    "harvest_phrases",
    "urgency_phrases",
    "spam_phrases",
    "marketing_phrases",
    "url_shorteners",
    "suspicious_tlds",
    "free_hosting",
    "freemail_domains",
)


@lru_cache(maxsize=1)
def _default_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    return data


def _default(key: str) -> Any:
    """A default factory returning a fresh copy of the shipped value for ``key``."""
    return lambda: json.loads(json.dumps(_default_data()[key]))


def _wording_regex(groups: dict[str, list[str]]) -> re.Pattern[str] | None:
    """One alternation over every phrase list, matched from word starts in folded (lower-case) text.

    The named group that matched (``harvest``, ``urgency``, ``spam``, ``marketing``) says which list.
    """
    parts = [
        f"(?P<{name}>" + "|".join(f"(?:{p.lower()})" for p in phrases) + ")"
        for name, phrases in groups.items()
        if phrases
    ]
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(parts) + ")") if parts else None


@dataclass
class DetectionPolicy:
    """Weights per reason code, category thresholds and the data lists behind each signal."""

    version: int = 1
    thresholds: dict[str, float] = field(default_factory=_default("thresholds"))
    weights: dict[str, float] = field(default_factory=_default("weights"))
    hard_codes: list[str] = field(default_factory=_default("hard_codes"))
    bulk_codes: list[str] = field(default_factory=_default("bulk_codes"))
    spam_codes: list[str] = field(default_factory=_default("spam_codes"))
    dangerous_extensions: list[str] = field(default_factory=_default("dangerous_extensions"))
    html_extensions: list[str] = field(default_factory=_default("html_extensions"))
    macro_extensions: list[str] = field(default_factory=_default("macro_extensions"))
    archive_extensions: list[str] = field(default_factory=_default("archive_extensions"))
    harvest_phrases: list[str] = field(default_factory=_default("harvest_phrases"))
    urgency_phrases: list[str] = field(default_factory=_default("urgency_phrases"))
    spam_phrases: list[str] = field(default_factory=_default("spam_phrases"))
    marketing_phrases: list[str] = field(default_factory=_default("marketing_phrases"))
    brands: dict[str, list[str]] = field(default_factory=_default("brands"))
    url_shorteners: list[str] = field(default_factory=_default("url_shorteners"))
    suspicious_tlds: list[str] = field(default_factory=_default("suspicious_tlds"))
    free_hosting: list[str] = field(default_factory=_default("free_hosting"))
    freemail_domains: list[str] = field(default_factory=_default("freemail_domains"))
    max_html_chars: int = _default_data()["max_html_chars"]
    max_links: int = _default_data()["max_links"]
    max_attachment_bytes_hashed: int = _default_data()["max_attachment_bytes_hashed"]

    def __post_init__(self) -> None:
        for name in ("malicious", "suspicious", "spam", "spam_with_bulk", "graymail"):
            if name not in self.thresholds:
                raise ValueError(f"policy thresholds lack {name!r}")
        t = self.thresholds
        if not t["malicious"] >= t["suspicious"]:
            raise ValueError("policy threshold 'malicious' must be >= 'suspicious'")
        for key, value in self.weights.items():
            if not isinstance(value, int | float):
                raise ValueError(f"policy weight {key!r} is not a number")
        self._compile()

    def _compile(self) -> None:
        low = lambda xs: frozenset(str(x).lower().lstrip(".") for x in xs)  # noqa: E731
        self.c_hard = frozenset(self.hard_codes)
        self.c_bulk = frozenset(self.bulk_codes)
        self.c_spam = frozenset(self.spam_codes)
        self.c_dangerous = low(self.dangerous_extensions)
        self.c_html_ext = low(self.html_extensions)
        self.c_macro = low(self.macro_extensions)
        self.c_archive = low(self.archive_extensions)
        self.c_shorteners = low(self.url_shorteners)
        self.c_tlds = low(self.suspicious_tlds)
        self.c_hosting = low(self.free_hosting)
        self.c_freemail = low(self.freemail_domains)
        self.c_wording = _wording_regex(
            {
                "harvest": self.harvest_phrases,
                "urgency": self.urgency_phrases,
                "spam": self.spam_phrases,
                "marketing": self.marketing_phrases,
            }
        )
        self.c_brands = {str(k).lower(): frozenset(str(d).lower() for d in v) for k, v in self.brands.items()}
        names = sorted(self.c_brands, key=len, reverse=True)
        self.c_brand_re = (
            re.compile(r"(?<![a-z0-9])(" + "|".join(re.escape(n) for n in names) + r")(?![a-z0-9])")
            if names
            else None
        )

    def weight(self, code: str) -> float:
        """The weight of a reason code (0.0 when the policy does not name it)."""
        return float(self.weights.get(code, 0.0))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict that :meth:`from_dict` turns back into an equal policy."""
        return {f.name: json.loads(json.dumps(getattr(self, f.name))) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectionPolicy:
        """Build a policy; keys missing from ``data`` keep the shipped default's values."""
        if not isinstance(data, dict):
            raise ValueError("a policy must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown policy keys: {', '.join(sorted(unknown))}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in _LIST_FIELDS and not isinstance(value, list):
                raise ValueError(f"policy key {key!r} must be a list")
            if key in ("weights", "thresholds", "brands") and not isinstance(value, dict):
                raise ValueError(f"policy key {key!r} must be an object")
            kwargs[key] = value
        if "weights" in kwargs:  # partial weight maps override the defaults code by code
            kwargs["weights"] = {**_default_data()["weights"], **kwargs["weights"]}
        if "thresholds" in kwargs:
            kwargs["thresholds"] = {**_default_data()["thresholds"], **kwargs["thresholds"]}
        try:
            return cls(**kwargs)
        except re.error as exc:
            raise ValueError(f"policy has an invalid phrase pattern: {exc}") from exc


def load_policy(path: str | Path) -> DetectionPolicy:
    """Read a policy JSON file."""
    return DetectionPolicy.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def dump_policy(policy: DetectionPolicy, path: str | Path) -> None:
    """Write a policy as indented JSON."""
    Path(path).write_text(json.dumps(policy.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@lru_cache(maxsize=1)
def default_policy() -> DetectionPolicy:
    """The shipped default policy (built once per process)."""
    return DetectionPolicy()
