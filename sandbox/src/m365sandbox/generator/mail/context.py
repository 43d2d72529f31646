"""What every message builder of the generator shares: the random stream, the directory, the
ground truth, "now", the mailboxes being filled; and the real ``.eml`` mail to mix in."""

from __future__ import annotations

import base64
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from m365sandbox.eml import iter_eml
from m365sandbox.generator.directory import Directory
from m365sandbox.generator.mail.folders import ensure_folders
from m365sandbox.seed import GroundTruth, MailboxSeed


@dataclass
class RealMail:
    """Real ``.eml`` messages to mix in: (name, bytes, label or None), and the share of inbound mail."""

    items: list[tuple[str, bytes, str | None]] = field(default_factory=list)
    share: float = 0.5

    @classmethod
    def load(cls, arg: str | Path | Sequence[tuple[str | Path, str]], share: float) -> RealMail:
        sources = [(arg, None)] if isinstance(arg, str | Path) else list(arg)
        items = [(name, raw, label) for src, label in sources for name, raw in iter_eml(src)]
        return cls(sorted(items, key=lambda t: t[0]), share)


class MailContext:
    """The state of one generation of mail (every random choice comes from ``rng``)."""

    def __init__(
        self,
        rng: random.Random,
        d: Directory,
        truth: GroundTruth,
        start: datetime,
        mailboxes: dict[str, MailboxSeed],
    ) -> None:
        self.rng, self.d, self.truth, self.start, self.mailboxes = rng, d, truth, start, mailboxes
        self.keys: dict[str, bytes] = {}
        self.counts: dict[str, int] = dict.fromkeys(mailboxes, 0)
        """Messages delivered so far per mailbox (the fixtures count towards each mailbox's quota)."""
        self.real_delivered: set[tuple[str, str]] = set()
        """(mailbox, internetMessageId) of the real mail delivered so far."""

    def folders(self, mid: str) -> dict[str, str]:
        return ensure_folders(self.rng, self.mailboxes[mid])

    def key(self, mid: str) -> bytes:
        if mid not in self.keys:
            self.keys[mid] = base64.urlsafe_b64decode(self.folders(mid)["inbox"])[5:21]
        return self.keys[mid]

    def imid(self, domain: str) -> str:
        """A new Internet message id: Exchange Online's shape for the tenant, a plain one outside."""
        rng = self.rng
        if domain == self.d.domain:
            return (
                f"<{rng.choice(('BN8', 'MN2', 'SA1', 'DM6'))}PR{rng.randint(10, 99)}MB{rng.randint(1000, 9999)}"
                f"{base64.b32encode(rng.randbytes(10)).decode()}@{rng.choice(('BN8', 'MN2'))}PR"
                f"{rng.randint(10, 99)}MB{rng.randint(1000, 9999)}.namprd{rng.randint(10, 19)}.prod.outlook.com>"
            )
        return f"<{rng.getrandbits(64):x}.{rng.randint(1000, 99999)}@{domain}>"

    def user_addr(self, uid: str) -> tuple[str, str]:
        u = self.d.by_id[uid]
        return u["displayName"], u["mail"]
