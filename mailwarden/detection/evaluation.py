"""Judge a scan against ground truth: recall on phishing, false positives on legitimate mail.

Pure computation (no I/O). Inputs are the labelled messages (an optional evaluation input: a
labelled list from the operator, or the sandbox's labels), the scan's findings (only what was not
clean is stored, so a labelled message in scope without a finding was judged clean), and the
policy actions the scan completed. A message is one copy in one mailbox, keyed by
``(mailbox, internetMessageId)`` (falling back to the Graph id), the same key findings and the
audit log use; a label without a mailbox covers every copy of its Internet message id.

The rates, per source (e.g. ``generated`` and ``real``) and overall:

- ``recall``: share of phishing in scope that is not clean (malicious, suspicious or spam);
- ``threat_recall``: share of phishing judged malicious or suspicious;
- ``acted``: share of phishing the policy acted on (quarantine, junk, delete), by action;
- ``false_positive_rate``: share of legitimate mail judged malicious or suspicious;
- ``legitimate_acted``: share of legitimate mail the policy acted on anyway (e.g. spam moved).
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .model import Category

NOT_CLEAN = frozenset({Category.MALICIOUS.value, Category.SUSPICIOUS.value, Category.SPAM.value})
THREAT = frozenset({Category.MALICIOUS.value, Category.SUSPICIOUS.value})
SEVERITY = [c.value for c in Category]  # most dangerous first
Label = Literal["phishing", "legitimate"]
_LABELS = {"phishing": "phishing", "malicious": "phishing", "spam": "phishing",
           "legitimate": "legitimate", "benign": "legitimate", "ham": "legitimate"}


@dataclass(frozen=True)
class LabelledMessage:
    """One message whose truth is known."""

    label: Label
    internet_message_id: str | None = None
    message_id: str | None = None
    mailbox_id: str | None = None
    received: datetime | None = None
    source: str = "labelled"
    deleted: bool = False
    """Already in Recoverable Items: counted only if this scan has a verdict for it."""


@dataclass(frozen=True)
class ScannedVerdict:
    """A finding of the scan (a message that was not clean)."""

    mailbox_id: str
    category: str
    internet_message_id: str | None = None
    message_id: str | None = None


@dataclass(frozen=True)
class CompletedAction:
    """A policy action the scan completed on a message (from the audit log)."""

    mailbox_id: str
    target: str
    """The Internet message id, or the Graph id when there was none (as the audit log keeps it)."""
    action: str


@dataclass
class Rates:
    """Counts and rates of one source."""

    phishing: int = 0
    phishing_not_clean: int = 0
    phishing_threat: int = 0
    phishing_acted: dict[str, int] = field(default_factory=dict)
    legitimate: int = 0
    legitimate_threat: int = 0
    legitimate_acted: dict[str, int] = field(default_factory=dict)

    @property
    def recall(self) -> float | None:
        return _share(self.phishing_not_clean, self.phishing)

    @property
    def threat_recall(self) -> float | None:
        return _share(self.phishing_threat, self.phishing)

    @property
    def acted(self) -> float | None:
        return _share(sum(self.phishing_acted.values()), self.phishing)

    @property
    def false_positive_rate(self) -> float | None:
        return _share(self.legitimate_threat, self.legitimate)

    @property
    def legitimate_acted_rate(self) -> float | None:
        return _share(sum(self.legitimate_acted.values()), self.legitimate)

    def to_json(self) -> dict[str, Any]:
        return {"phishing": self.phishing, "phishing_not_clean": self.phishing_not_clean,
                "phishing_threat": self.phishing_threat, "phishing_acted": dict(self.phishing_acted),
                "legitimate": self.legitimate, "legitimate_threat": self.legitimate_threat,
                "legitimate_acted": dict(self.legitimate_acted), "recall": _round(self.recall),
                "threat_recall": _round(self.threat_recall), "acted": _round(self.acted),
                "false_positive_rate": _round(self.false_positive_rate),
                "legitimate_acted_rate": _round(self.legitimate_acted_rate)}


@dataclass
class Evaluation:
    """Rates per source plus ``all``; ``out_of_scope`` labels were outside the scan."""

    by_source: dict[str, Rates]
    labelled: int
    out_of_scope: int

    @property
    def overall(self) -> Rates:
        return self.by_source["all"]

    def to_json(self) -> dict[str, Any]:
        """Counts and rates; ``judged``: labelled messages in scope, one per mailbox copy."""
        return {"labelled": self.labelled, "out_of_scope": self.out_of_scope,
                "judged": self.overall.phishing + self.overall.legitimate,
                "sources": {name: r.to_json() for name, r in self.by_source.items()}}


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _norm(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text.lower() or None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _worst(categories: Iterable[str]) -> str:
    return min(categories, key=lambda c: SEVERITY.index(c) if c in SEVERITY else len(SEVERITY))


def evaluate(
    labels: Iterable[LabelledMessage],
    verdicts: Iterable[ScannedVerdict],
    actions: Iterable[CompletedAction] = (),
    *,
    mailboxes: Iterable[str] | None = None,
    since: datetime | None = None,
) -> Evaluation:
    """Rates of a scan over ``mailboxes`` (None: any) since ``since`` (None: any time).

    A label is in scope when its mailbox (if known) was scanned, it was received at or after
    ``since`` (if known), and it was not already deleted before the scan judged it.
    """
    scanned = {m for m in (_norm(x) for x in mailboxes)} if mailboxes is not None else None
    start = _aware(since) if since is not None else None
    by_copy: dict[tuple[str, str], str] = {}
    by_message: dict[str, list[str]] = defaultdict(list)
    for v in verdicts:
        owner = _norm(v.mailbox_id) or ""
        for key in {k for k in (_norm(v.internet_message_id), _norm(v.message_id)) if k}:
            by_copy[(owner, key)] = v.category
            by_message[key].append(v.category)
    acted_copy: dict[tuple[str, str], str] = {}
    acted_message: dict[str, str] = {}
    for a in actions:
        target = _norm(a.target)
        if target:
            acted_copy[(_norm(a.mailbox_id) or "", target)] = a.action
            acted_message.setdefault(target, a.action)

    rates: dict[str, Rates] = defaultdict(Rates)
    seen: set[tuple[str, str]] = set()
    labelled = out = 0
    for lab in labels:
        labelled += 1
        keys = [k for k in (_norm(lab.internet_message_id), _norm(lab.message_id)) if k]
        mb = _norm(lab.mailbox_id)
        if not keys or (scanned is not None and mb is not None and mb not in scanned) or (
                start is not None and lab.received is not None and _aware(lab.received) < start):
            out += 1
            continue
        identity = (mb or "*", keys[0])
        if identity in seen:  # one copy per mailbox, as findings and the audit log count them
            continue
        seen.add(identity)
        if mb is not None:
            category = next((by_copy[(mb, k)] for k in keys if (mb, k) in by_copy), None)
            action = next((acted_copy[(mb, k)] for k in keys if (mb, k) in acted_copy), None)
        else:
            found = [c for k in keys for c in by_message.get(k, [])]
            category = _worst(found) if found else None
            action = next((acted_message[k] for k in keys if k in acted_message), None)
        if category is None and lab.deleted:
            out += 1  # gone before this scan could judge it
            continue
        category = category or Category.CLEAN.value
        for r in (rates[lab.source], rates["all"]):
            if lab.label == "phishing":
                r.phishing += 1
                r.phishing_not_clean += category in NOT_CLEAN
                r.phishing_threat += category in THREAT
                if action:
                    r.phishing_acted[action] = r.phishing_acted.get(action, 0) + 1
            else:
                r.legitimate += 1
                r.legitimate_threat += category in THREAT
                if action:
                    r.legitimate_acted[action] = r.legitimate_acted.get(action, 0) + 1
    ordered = {name: rates[name] for name in sorted(rates) if name != "all"}
    ordered["all"] = rates["all"]
    return Evaluation(ordered, labelled, out)


def parse_labels(data: Any, *, source: str = "labelled") -> list[LabelledMessage]:
    """Labelled messages from JSON-like data: a list of objects or ``{"messages": [...]}``.

    Each object needs ``label`` (``phishing``/``legitimate``, or ``malicious``/``spam``/``benign``/
    ``ham``) and ``internet_message_id`` or ``message_id``; ``mailbox_id``, ``received`` (ISO
    8601), ``source`` and ``deleted`` are optional. Raises ``ValueError`` on anything else.
    """
    if isinstance(data, Mapping):
        data = data.get("messages")
    if not isinstance(data, list):
        raise ValueError("ground truth must be a list of labelled messages (or {'messages': [...]})")
    out: list[LabelledMessage] = []
    for i, row in enumerate(data):
        if not isinstance(row, Mapping):
            raise ValueError(f"ground truth row {i} is not an object")
        label = _LABELS.get(str(row.get("label", "")).strip().lower())
        imid = row.get("internet_message_id") or row.get("internetMessageId")
        mid = row.get("message_id") or row.get("id")
        if label is None or not (imid or mid):
            raise ValueError(f"ground truth row {i} needs a label (phishing/legitimate) and a message id")
        received = row.get("received") or row.get("receivedDateTime")
        out.append(LabelledMessage(
            label=label,  # type: ignore[arg-type]
            internet_message_id=str(imid) if imid else None, message_id=str(mid) if mid else None,
            mailbox_id=str(row["mailbox_id"]) if row.get("mailbox_id") else None,
            received=_parse_time(received) if received else None,
            source=str(row.get("source") or source), deleted=_truthy(row.get("deleted"))))
    return out


def parse_labels_text(text: str, *, source: str = "labelled") -> list[LabelledMessage]:
    """Labelled messages from JSON, JSON lines, or CSV with a header row (same fields)."""
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        try:
            return parse_labels(json.loads(stripped), source=source)
        except json.JSONDecodeError:
            rows = [json.loads(line) for line in stripped.splitlines() if line.strip()]
            return parse_labels(rows, source=source)
    return parse_labels(list(csv.DictReader(io.StringIO(text))), source=source)


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return _aware(value)
    try:
        return _aware(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 time: {value!r}") from exc


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes")


def markdown(evaluation: Evaluation | Mapping[str, Any]) -> list[str]:
    """Markdown lines: a table of the rates per source (for a scan's summary artifact).

    Takes an :class:`Evaluation` or its :meth:`Evaluation.to_json` form.
    """
    data = evaluation.to_json() if isinstance(evaluation, Evaluation) else evaluation

    def pct(value: float | None, n: int) -> str:
        return "n/a" if value is None else f"{100 * value:.1f}% ({n})"

    def detail(counts: Mapping[str, int]) -> str:
        return f" [{', '.join(f'{a} {n}' for a, n in sorted(counts.items()))}]" if counts else ""

    lines = ["| source | phishing | recall (not clean) | malicious or suspicious | acted on by policy | "
             "legitimate | false positives (malicious or suspicious) | legitimate acted on |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in data["sources"].items():
        p_acted, l_acted = r["phishing_acted"], r["legitimate_acted"]
        lines.append(
            f"| {'**all**' if name == 'all' else name} | {r['phishing']} | "
            f"{pct(r['recall'], r['phishing_not_clean'])} | {pct(r['threat_recall'], r['phishing_threat'])} | "
            f"{pct(r['acted'], sum(p_acted.values()))}{detail(p_acted)} | {r['legitimate']} | "
            f"{pct(r['false_positive_rate'], r['legitimate_threat'])} | "
            f"{pct(r['legitimate_acted_rate'], sum(l_acted.values()))}{detail(l_acted)} |")
    return lines
