"""``classify``: a Graph message dict in, a :class:`Verdict` with reasons out. Never raises on input."""

from __future__ import annotations

from typing import Any

from . import signals
from .content import BodyFacts, extract
from .domains import split_address
from .model import Category, DetectionContext, Reason, Verdict
from .policy import DetectionPolicy, default_policy

_DEFAULT_CONTEXT = DetectionContext()
_MAX_SUBJECT = 2000
_MAX_HEADERS = 500
_MAX_TEXT = 12_000  # wording signals read the subject and the first 12k characters of visible text


def _s(value: Any, cap: int = 1_000_000) -> str:
    if not isinstance(value, str):
        return ""
    value = value[:cap]
    return value.replace("\x00", "") if "\x00" in value else value


def _email(obj: Any) -> tuple[str, str, bool]:
    """(display name, address, present) from ``{"emailAddress": {"name", "address"}}``."""
    if not isinstance(obj, dict):
        return "", "", False
    inner = obj.get("emailAddress")
    if not isinstance(inner, dict):
        return "", "", False
    return _s(inner.get("name"), 500).strip(), _s(inner.get("address"), 500).strip(), True


def _headers(raw: Any, hits: list[signals.Hit]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if raw is None:
        return out
    if not isinstance(raw, list):
        hits.append(("unparseable_header", "internetMessageHeaders is not a list", 1.0))
        return out
    bad = 0
    for item in raw[:_MAX_HEADERS]:
        if type(item) is not dict:
            bad += 1
            continue
        name, value = item.get("name"), item.get("value")
        if type(name) is not str or not (type(value) is str or value is None):
            bad += 1
            continue
        out.setdefault(name.strip().lower(), []).append(_s(value, 20_000))
    if bad:
        hits.append(
            ("unparseable_header", f"{bad} malformed entr{'y' if bad == 1 else 'ies'} in the headers", 1.0)
        )
    return out


def _body(message: dict[str, Any], pol: DetectionPolicy, hits: list[signals.Hit]) -> BodyFacts:
    body = message.get("body")
    content, ctype = "", "text"
    if isinstance(body, dict):
        content = _s(body.get("content"), pol.max_html_chars)
        ctype = _s(body.get("contentType"), 20) or "text"
    elif body is not None:
        hits.append(("unparseable_header", "body is not an object", 1.0))
    if not content:
        content = _s(message.get("bodyPreview"), 2000)
    return extract(content, ctype, max_chars=pol.max_html_chars, max_links=pol.max_links)


def _run(message: dict[str, Any], ctx: DetectionContext, pol: DetectionPolicy) -> list[signals.Hit]:
    hits: list[signals.Hit] = []
    headers = _headers(message.get("internetMessageHeaders"), hits)
    auth = signals.check_auth(headers, hits)

    name, address, present = _email(message.get("from"))
    if not present:
        name, address, present = _email(message.get("sender"))
    parsed = split_address(address)
    domain = parsed[1] if parsed else ""
    if not address:
        hits.append(("missing_sender", "message has no From address", 1.0))
    elif not parsed:
        hits.append(("malformed_sender", f"From address is not a valid address: {address[:60]!r}", 1.0))
    if address and address.lower() in ctx.iocs.senders:
        hits.append(("ioc_sender", f"sender {address[:80]} is on the IOC list", 1.0))
    elif domain and domain in ctx.iocs.domains:
        hits.append(("ioc_sender", f"sender domain {domain} is on the IOC list", 1.0))
    signals.check_sender(name, domain, auth, ctx, pol, hits)
    if parsed:
        signals.check_random_sender(address, domain, hits)

    reply = message.get("replyTo")
    reply_domains = []
    if isinstance(reply, list):
        for r in reply[:10]:
            p = split_address(_email(r)[1])
            if p:
                reply_domains.append(p[1])
    signals.check_reply_to(domain, reply_domains, pol, hits)

    subject = _s(message.get("subject"), _MAX_SUBJECT)
    if subject:
        signals.check_subject(subject, hits)
    facts = _body(message, pol, hits)
    web = signals.check_links(facts, ctx, pol, hits)
    signals.check_html(facts, hits)
    text = signals.fold(subject + " \n " + facts.text[:_MAX_TEXT])
    atts = message.get("attachments")
    if isinstance(atts, list):
        signals.check_attachments([a for a in atts if isinstance(a, dict)], text, ctx, pol, hits)
    elif atts is not None:
        hits.append(("unparseable_header", "attachments is not a list", 1.0))
    signals.check_language(text, web, facts, pol, hits)
    signals.check_bulk(headers, hits)
    return hits


def classify(
    message: Any, context: DetectionContext | None = None, policy: DetectionPolicy | None = None
) -> Verdict:
    """Classify one Graph message; every verdict carries at least one reason."""
    ctx = context or _DEFAULT_CONTEXT
    pol = policy or default_policy()
    if not isinstance(message, dict):
        r = Reason(
            "unparseable_header",
            f"message is a {type(message).__name__}, not an object",
            pol.weight("unparseable_header"),
        )
        return Verdict(Category.CLEAN, r.weight, (r,))
    try:
        hits = _run(message, ctx, pol)
    except RecursionError:  # pragma: no cover - defensive: regexes are bounded, input is capped
        hits = [("unparseable_header", "message too deeply nested to inspect", 1.0)]
    reasons: list[Reason] = []
    seen: set[tuple[str, str]] = set()
    threat = spam = bulk = 0.0
    hard = False
    for code, detail, mult in hits:
        if (code, detail) in seen:
            continue
        seen.add((code, detail))
        w = round(pol.weight(code) * mult, 3)
        reasons.append(Reason(code, detail, w))
        if code in pol.c_hard:
            hard = True
        if code in pol.c_bulk:
            bulk += w
        elif code in pol.c_spam:
            spam += w
        else:
            threat += w
    return Verdict(
        _category(threat, spam, bulk, hard, message, ctx, pol),
        round(threat + spam + bulk, 3),
        tuple(reasons) or (Reason("no_signals", "no detection rule fired", pol.weight("no_signals")),),
    )


def _category(
    threat: float,
    spam: float,
    bulk: float,
    hard: bool,
    message: dict[str, Any],
    ctx: DetectionContext,
    pol: DetectionPolicy,
) -> Category:
    t = pol.thresholds
    if hard or threat >= t["malicious"]:
        return Category.MALICIOUS
    if threat >= t["suspicious"]:
        return Category.SUSPICIOUS
    if spam + threat >= t["spam"] or (spam + threat >= t["spam_with_bulk"] and bulk >= t["graymail"]):
        return Category.SPAM
    if bulk + spam >= t["graymail"]:
        return Category.GRAYMAIL
    if ctx.tenant_domains:
        parsed = split_address(_email(message.get("from"))[1])
        if not parsed or parsed[1] not in ctx.tenant_domains:
            return Category.EXTERNAL
    return Category.CLEAN
