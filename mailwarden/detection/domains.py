# ruff: noqa: RUF001  (the confusables table is deliberately full of look-alike letters)
"""Domain helpers: registrable domain, punycode decoding, confusable skeletons, lookalike tests."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Second-level labels under which country TLDs register names (co.uk, com.br, ...).
_SECOND_LEVEL = frozenset(
    {"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or", "go", "gob", "mil", "nic"}
)

# Unicode letters that render like Latin ones (Cyrillic, Greek, Armenian, fullwidth handled by NFKC).
_CONFUSABLES = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "с": "c",
        "ԁ": "d",
        "е": "e",
        "ё": "e",
        "һ": "h",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "к": "k",
        "ӏ": "l",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "ԛ": "q",
        "ѕ": "s",
        "т": "t",
        "ս": "u",
        "ѵ": "v",
        "ԝ": "w",
        "х": "x",
        "у": "y",
        "ү": "y",
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ω": "w",
        "ɡ": "g",
        "ɩ": "i",
        "ı": "i",
        "ո": "n",
        "օ": "o",
        "ℓ": "l",
        "ɑ": "a",
        "ɒ": "o",
    }
)
_VISUAL = (
    ("rn", "m"),
    ("vv", "w"),
    ("cl", "d"),
    ("0", "o"),
    ("1", "l"),
    ("i", "l"),
    ("3", "e"),
    ("5", "s"),
    ("|", "l"),
)


def split_address(address: object) -> tuple[str, str] | None:
    """``local@domain`` lower-cased, or None when the value is not an address."""
    if not isinstance(address, str):
        return None
    value = address.strip().strip("<>").strip().lower()
    if value.count("@") < 1:
        return None
    local, _, domain = value.rpartition("@")
    domain = domain.strip().rstrip(".")
    if not local or not domain or " " in domain:
        return None
    return local, domain


@lru_cache(maxsize=8192)
def decode_host(host: str) -> str:
    """Lower-case a host and decode punycode (``xn--``) labels to Unicode where possible."""
    host = host.strip().strip(".").lower()
    if "xn--" not in host:
        return host
    labels = []
    for label in host.split("."):
        if label.startswith("xn--"):
            try:
                label = label[4:].encode("ascii").decode("punycode")
            except (UnicodeError, ValueError):
                pass
        labels.append(label)
    return ".".join(labels)


@lru_cache(maxsize=8192)
def registrable(host: str) -> str:
    """An approximation of the registrable domain (eTLD+1) without a public-suffix list."""
    labels = [x for x in host.strip(".").lower().split(".") if x]
    if len(labels) <= 2:
        return ".".join(labels)
    if len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def is_within(host: str, domains: frozenset[str]) -> bool:
    """True when ``host`` is one of ``domains`` or a subdomain of one."""
    host = host.lower().strip(".")
    if host in domains:
        return True
    parts = host.split(".")
    return any(".".join(parts[i:]) in domains for i in range(1, len(parts) - 1))


@lru_cache(maxsize=8192)
def skeleton(text: str) -> str:
    """A visual skeleton: confusables folded to Latin, look-alike sequences merged, hyphens dropped."""
    s = unicodedata.normalize("NFKC", text.lower()).translate(_CONFUSABLES)
    s = "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
    for a, b in _VISUAL:
        s = s.replace(a, b)
    return s.replace("-", "").replace("_", "")


def has_mixed_script(text: str) -> bool:
    """True when a word mixes Latin letters with Cyrillic/Greek look-alikes, or hides invisible marks."""
    for word in text.split():
        latin = other = False
        for ch in word:
            o = ord(ch)
            if ch.isascii():
                latin = latin or ch.isalpha()
            elif ch in _INVISIBLE:
                return True
            elif 0x0370 <= o <= 0x052F or 0x0530 <= o <= 0x058F:
                other = True
        if latin and other:
            return True
    return False


_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad\u034f\u180e\u2061\u2062\u2063\u2064")


def _damerau(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance, stopping early above ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        best = cur[0]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
            best = min(best, cur[j])
        if best > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def _label(domain: str) -> str:
    reg = registrable(domain)
    return reg.split(".")[0] if reg else ""


@lru_cache(maxsize=8192)
def lookalike_of(host: str, protected: frozenset[str]) -> tuple[str, str] | None:
    """(protected domain, how) when ``host`` imitates one of ``protected`` without being it.

    Catches punycode/confusable homoglyphs, visual swaps (rn/m, 0/o, 1/l), extra hyphens, and
    typos within a small edit distance of the protected name.
    """
    host = decode_host(host)
    if not host or is_within(host, protected):
        return None
    reg = registrable(host)
    label = _label(host)
    sk_label = skeleton(label)
    for target in protected:
        t_label = _label(target)
        if len(t_label) < 4 or reg == target:
            continue
        if label == t_label:
            continue  # same name under another suffix (amazon.de) is not a lookalike by itself
        if skeleton(t_label) == sk_label:
            how = "punycode/homoglyph" if not label.isascii() else "look-alike characters"
            return target, how
        limit = 1 if len(t_label) < 9 else 2
        if len(label) >= 4 and _damerau(label, t_label, limit) <= limit:
            return target, "typo of the name"
    return None


_GENERIC_LABELS = frozenset({"office", "apple", "chase", "outlook", "live"})


@lru_cache(maxsize=8192)
def embedded_brand(host: str, protected: frozenset[str]) -> str | None:
    """A protected domain spelled inside a foreign host, e.g. ``microsoft.com.login-secure.example``."""
    host = decode_host(host)
    if not host or is_within(host, protected):
        return None
    reg = registrable(host)
    reg_tokens = reg.split(".")[0].split("-")
    sub = host[: -len(reg)].strip(".") if host.endswith(reg) else ""
    sub_tokens = re.split(r"[.-]", sub) if sub else []
    for target in protected:
        if host.startswith(target + ".") or f".{target}." in host:
            return target
        t_label = _label(target)
        if len(t_label) < 5 or t_label in _GENERIC_LABELS:
            continue
        if (len(reg_tokens) > 1 and t_label in reg_tokens) or t_label in sub_tokens:
            return target
    return None
