"""Detection speed on one core: messages per second over a mix of messages.

    python bench/detection_speed.py [--seconds 3] [--corpus DIR_OR_TGZ ...]

The mix is synthetic Graph messages (plain text, newsletter HTML, phishing HTML with links and
attachments, a 1 MB hostile body) plus, when found, the shared corpus dev sets. Prints the
figure and a final JSON line.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mailwarden.detection import DetectionContext, IndicatorSet, classify  # noqa: E402


def _addr(name: str, address: str) -> dict[str, Any]:
    return {"emailAddress": {"name": name, "address": address}}


def synthetic() -> list[dict[str, Any]]:
    """A small fixed mix of message shapes."""
    hdr = [
        {"name": "Authentication-Results", "value": "spf=pass smtp.mailfrom=a.example; dkim=pass; dmarc=pass"}
    ]
    news = (
        "<html><body>"
        + "<p>Weekly news <a href='https://news.example/a'>read</a></p>" * 200
        + "<a href='https://news.example/u'>unsubscribe</a></body></html>"
    )
    phish = (
        "<html><body><p>Unusual sign-in activity. Verify your account within 24 hours.</p>"
        "<a href='http://203.0.113.9/login'>https://login.microsoftonline.com</a>"
        "<form action='https://evil.example/p'><input type='password'></form></body></html>"
    )
    return [
        {
            "subject": "lunch?",
            "from": _addr("Ann", "ann@contoso.com"),
            "body": {"contentType": "text", "content": "See you at noon.\n" * 20},
            "internetMessageHeaders": hdr,
        },
        {
            "subject": "Newsletter",
            "from": _addr("News", "news@news.example"),
            "body": {"contentType": "html", "content": news},
            "internetMessageHeaders": [
                *hdr,
                {"name": "List-Unsubscribe", "value": "<mailto:u@news.example>"},
            ],
        },
        {
            "subject": "Action required",
            "from": _addr("Microsoft", "it@rnicrosoft.com"),
            "replyTo": [_addr("", "x@gmail.com")],
            "body": {"contentType": "html", "content": phish},
            "internetMessageHeaders": [
                {"name": "Authentication-Results", "value": "spf=fail; dkim=none; dmarc=fail"}
            ],
            "attachments": [
                {
                    "name": "invoice.pdf.html",
                    "contentType": "text/html",
                    "size": 10,
                    "contentBytes": base64.b64encode(b"<html>hi</html>").decode(),
                }
            ],
        },
        {
            "subject": "x" * 100_000,
            "from": None,
            "body": {"contentType": "html", "content": "<div>" * 50_000 + "<a href=x>" * 20_000},
        },
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--corpus", nargs="*", default=None)
    args = ap.parse_args(argv)
    messages = synthetic()
    corpus = args.corpus
    if corpus is None:
        base = ROOT / ".." / "shared" / "corpus"
        corpus = [
            str(p)
            for p in (base / "phishing_pot-dev.tar.gz", base / "spamassassin-ham-dev.tar.gz")
            if p.exists()
        ]
    if corpus:
        from detection_quality import load_messages

        for source in corpus:
            messages.extend(m for _, m in load_messages(source))
    ctx = DetectionContext(
        tenant_domains=frozenset({"contoso.com"}),
        internal_display_names={"ann lee": "ann@contoso.com"},
        iocs=IndicatorSet(urls=frozenset({"https://evil.example/p"}), sha256=frozenset({"0" * 64})),
    )
    for m in messages:  # warm-up: compiled regexes and lookalike caches
        classify(m, ctx)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        for m in messages:
            classify(m, ctx)
        done += len(messages)
    rate = done / (time.perf_counter() - start)
    print(f"detection: {rate:,.0f} messages/s on one core over {len(messages)} distinct messages")
    print(json.dumps({"messages_per_second": round(rate, 1), "distinct_messages": len(messages)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
