"""Detection quality on real mail: phishing vs legitimate .eml sets.

    python bench/detection_quality.py [--phishing PATH] [--legitimate PATH] [--policy FILE]

PATH is a directory or tar.gz of .eml files; both default to the shared corpus dev sets
(``../shared/corpus`` from the repository root). Prints per-category counts, the "not clean"
rate on phishing, the malicious-or-suspicious rate on legitimate mail, for the whole set and for
its odd- and even-indexed halves (a held-out check), the top reasons per label, throughput, and
a final JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = Path(__import__("os").environ.get("MAILWARDEN_CORPUS", ROOT / ".." / "shared" / "corpus"))

from m365sandbox.eml import eml_to_graph_message, iter_eml  # noqa: E402

from mailwarden.detection import Category, DetectionPolicy, classify, load_policy  # noqa: E402

NOT_CLEAN = {Category.MALICIOUS, Category.SUSPICIOUS, Category.SPAM}
THREAT = {Category.MALICIOUS, Category.SUSPICIOUS}


def load_messages(source: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """(name, Graph message) for every .eml in a directory or tar.gz, in name order."""
    out = []
    for name, raw in iter_eml(source):
        message, attachments = eml_to_graph_message(raw)
        if attachments and not message.get("attachments"):
            message = {**message, "attachments": attachments}
        out.append((name, message))
    return out


def evaluate(
    phishing: str | Path, legitimate: str | Path, policy: DetectionPolicy | None = None
) -> dict[str, Any]:
    """Classify both sets; return counts, rates (all/odd/even halves), top reasons and throughput."""
    sets = {"phishing": load_messages(phishing), "legitimate": load_messages(legitimate)}
    result: dict[str, Any] = {"counts": {}, "rates": {}, "top_reasons": {}}
    total, elapsed = 0, 0.0
    cats: dict[str, list[Category]] = {}
    for label, msgs in sets.items():
        t0 = time.perf_counter()
        verdicts = [classify(m, None, policy) for _, m in msgs]
        elapsed += time.perf_counter() - t0
        total += len(msgs)
        cats[label] = [v.category for v in verdicts]
        result["counts"][label] = dict(Counter(str(c) for c in cats[label]))
        reasons = Counter(r.code for v in verdicts for r in v.reasons)
        result["top_reasons"][label] = reasons.most_common(15)
    for half, sl in (("all", slice(None)), ("odd", slice(1, None, 2)), ("even", slice(0, None, 2))):
        p, legit = cats["phishing"][sl], cats["legitimate"][sl]
        result["rates"][half] = {
            "phishing_not_clean": round(sum(c in NOT_CLEAN for c in p) / max(len(p), 1), 4),
            "legitimate_threat": round(sum(c in THREAT for c in legit) / max(len(legit), 1), 4),
            "n_phishing": len(p),
            "n_legitimate": len(legit),
        }
    result["messages_per_second"] = round(total / elapsed, 1) if elapsed else None
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phishing", default=str(CORPUS / "phishing_pot-dev.tar.gz"))
    ap.add_argument("--legitimate", default=str(CORPUS / "spamassassin-ham-dev.tar.gz"))
    ap.add_argument("--policy", default=None, help="policy JSON file (default: the shipped policy)")
    args = ap.parse_args(argv)
    policy = load_policy(args.policy) if args.policy else None
    r = evaluate(args.phishing, args.legitimate, policy)
    for label, counts in r["counts"].items():
        print(f"{label}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    for half, rates in r["rates"].items():
        print(
            f"[{half:4}] phishing not clean: {rates['phishing_not_clean']:.1%} of {rates['n_phishing']}   "
            f"legitimate malicious/suspicious: {rates['legitimate_threat']:.1%} of {rates['n_legitimate']}"
        )
    for label, reasons in r["top_reasons"].items():
        print(f"top reasons ({label}): " + ", ".join(f"{c} {n}" for c, n in reasons))
    print(f"throughput: {r['messages_per_second']} messages/s (detection only)")
    print(json.dumps(r, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
