"""Bounded, regex-based extraction from message bodies: links, visible text, HTML tricks.

No DOM is built: every pass is a compiled regex over at most ``max_chars`` of the body, so a
hostile or huge message costs the same as an ordinary one.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_ANCHOR = re.compile(r"<a\b([^>]{0,2000})>(.{0,2000}?)</a\s*>", re.IGNORECASE | re.DOTALL)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_FORM_ACTION = re.compile(r"""action\s*=\s*["']?(https?://[^"'\s>]+)""")
_TEXT_URL = re.compile(r"""(?:[hH][tT][tT][pP][sS]?://|[wW]{3}\.)[^\s<>"'()\[\]{}]{2,2000}""")
_LOOKS_HTML = re.compile(r"<(html|body|a|div|p|table)\b", re.IGNORECASE)
_TAG = re.compile(r"<[^>]{0,4000}>")
_BLOCK_OPEN = re.compile(r"<!--|<(style|script|head)\b", re.IGNORECASE)
# HTML tricks, searched in the lower-cased body only when a cheap substring test says they may be there.
_TRICKS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    ("form", ("<form",), re.compile(r"<form\b")),
    ("password", ("password",), re.compile(r"<input\b[^>]{0,500}type\s*=\s*[\"']?password")),
    (
        "script",
        ("<script", "javascript:", "onload", "onerror", "onmouseover", "onclick"),
        re.compile(r"<script\b|javascript:|\bon(?:load|error|mouseover|click)\s*="),
    ),
    ("refresh", ("refresh",), re.compile(r"<meta\b[^>]{0,300}http-equiv\s*=\s*[\"']?refresh")),
    ("data", (";base64,",), re.compile(r"data:([a-z0-9.+/-]{1,60});base64,")),
    (
        "hidden",
        ("none", "hidden", "font-size"),
        re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:px|pt|em|%)?\s*[;\"']"),
    ),
)
_DOMAIN_TEXT = re.compile(r"^(?:https?://)?((?:[a-z0-9-]{1,63}\.)+[a-z]{2,24})(?:[/:?#]\S*)?$", re.IGNORECASE)


@dataclass
class Link:
    """One URL found in the body, with the visible text of its anchor (empty for bare URLs)."""

    url: str
    text: str = ""
    host: str = ""


@dataclass
class BodyFacts:
    """What the body extraction found."""

    text: str = ""
    links: list[Link] = field(default_factory=list)
    is_html: bool = False
    forms: int = 0
    password_fields: int = 0
    scripts: int = 0
    meta_refresh: bool = False
    data_uris: list[str] = field(default_factory=list)
    hidden: int = 0
    images: int = 0


def url_host(url: str) -> str:
    """Lower-cased host of a URL ('' when there is none), tolerant of junk."""
    u = url.strip()
    if u.lower().startswith("www."):
        u = "http://" + u
    try:
        parts = urlsplit(u)
        host = parts.hostname or ""
    except ValueError:
        return ""
    return host.strip(".").lower()


def url_has_userinfo(url: str) -> bool:
    """True for ``http://paypal.com@evil.example/`` style URLs."""
    try:
        netloc = urlsplit(url.strip()).netloc
    except ValueError:
        return False
    return "@" in netloc


def text_domain(text: str) -> str | None:
    """The domain an anchor's visible text claims, if the text looks like a URL or bare domain."""
    t = text.strip().lower()
    if not t or len(t) > 300 or " " in t:
        return None
    m = _DOMAIN_TEXT.match(t)
    return m.group(1).strip(".") if m else None


def _drop_blocks(body: str) -> str:
    """Remove comments and style/script/head blocks in one linear pass (unclosed ones run to the end)."""
    out: list[str] = []
    pos = 0
    low = body.lower()
    while True:
        m = _BLOCK_OPEN.search(body, pos)
        if not m:
            out.append(body[pos:])
            break
        out.append(body[pos : m.start()])
        closer = "-->" if m.group(1) is None else f"</{m.group(1).lower()}"
        end = low.find(closer, m.end())
        if end < 0:
            break
        gt = low.find(">", end)
        pos = len(body) if gt < 0 else gt + 1
        out.append(" ")
    return "".join(out)


def strip_tags(fragment: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", fragment)).split())


def _add(links: list[Link], url: str, text: str, cap: int) -> None:
    if len(links) >= cap:
        return
    url = html.unescape(url.strip())
    links.append(
        Link(url=url, text=text, host=url_host(url) if ":" in url or url.lower().startswith("www.") else "")
    )


def extract(content: str, content_type: str, *, max_chars: int, max_links: int) -> BodyFacts:
    """Extract text, links and HTML tricks from a body string."""
    body = content[:max_chars]
    facts = BodyFacts()
    lowered_ct = content_type.lower()
    facts.is_html = lowered_ct == "html" or (lowered_ct != "text" and bool(_LOOKS_HTML.search(body[:5000])))
    if not facts.is_html:
        facts.text = body
        for m in _TEXT_URL.finditer(body) if ("http" in body or "www." in body) else ():
            _add(facts.links, m.group(0).rstrip(".,;:!?"), "", max_links)
        return facts
    seen: set[str] = set()
    for m in _ANCHOR.finditer(body):
        h = _HREF.search(m.group(1))
        if not h:
            continue
        url = h.group(1) or h.group(2) or h.group(3) or ""
        if url.lower().startswith(("mailto:", "#", "tel:")):
            continue
        seen.add(url)
        _add(facts.links, url, strip_tags(m.group(2))[:300], max_links)
    low = body.lower()
    for m in _FORM_ACTION.finditer(low) if "action" in low else ():
        if m.group(1) not in seen:
            seen.add(m.group(1))
            _add(facts.links, m.group(1), "", max_links)
    for kind, needles, rx in _TRICKS:
        if not any(n in low for n in needles):
            continue
        if kind == "data":
            facts.data_uris = [m.group(1) for m in rx.finditer(low)][:20]
            continue
        n = sum(1 for _ in rx.finditer(low))
        if kind == "form":
            facts.forms = n
        elif kind == "password":
            facts.password_fields = n
        elif kind == "script":
            facts.scripts = n
        elif kind == "refresh":
            facts.meta_refresh = n > 0
        else:
            facts.hidden = n
    facts.images = low.count("<img")
    facts.text = strip_tags(_drop_blocks(body))
    for m in _TEXT_URL.finditer(facts.text) if ("http" in facts.text or "www." in facts.text) else ():
        u = m.group(0).rstrip(".,;:!?")
        if u not in seen:
            seen.add(u)
            _add(facts.links, u, "", max_links)
    return facts
