"""One mailbox's live state: folders, messages, inbox rules and a change log for delta queries.

Memory matters (the sandbox holds thousands of mailboxes): a message is a small slotted record
that points at its Graph JSON (``base``, shared with the seed and never mutated) plus a small
``own`` dict of later changes (copy on write). Every change takes the next sequence number of the
mailbox; a folder keeps its live messages ordered by sequence, and removals are logged, so a
delta round is "what changed in (since, upto]" instead of a snapshot per client.

Exchange gives an item a new id when it moves to another folder; so does this model (``move``,
``delete`` -> Recoverable Items\\Deletions, ``permanent_delete`` -> Recoverable Items\\Purges).
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from heapq import merge
from typing import Any

from m365sandbox.context import GraphHTTPError
from m365sandbox.mail.content import fill_new_message
from m365sandbox.mail.schema import (
    DUMPSTER,
    LOCALES,
    MAILBOX_SETTINGS_PROPERTIES,
    MESSAGE_PROPERTIES,
    MESSAGE_WRITABLE,
    RULE_ACTIONS,
    RULE_PREDICATES,
    RULE_PROPERTIES,
    TIME_ZONES,
    USER_PURPOSE,
    WELL_KNOWN,
    change_key,
    iso,
    item_id,
    mailbox_key,
    parse_time,
    rule_id,
)
from m365sandbox.seed import MailboxSeed

Json = dict[str, Any]
NOT_FOUND = "The specified object was not found in the store."


class Item:
    """A message: its id, folder, sequence numbers and JSON (``base`` overlaid by ``own``)."""

    __slots__ = ("base", "cseq", "folder", "id", "own", "seq")

    def __init__(self, iid: str, base: Json, own: Json | None, folder: str) -> None:
        self.id = iid
        self.base = base
        self.own = own
        self.folder = folder
        self.seq = 0
        self.cseq = 0
        """Sequence number of the item's creation in its folder (``changeType=created``)."""

    def get(self, name: str, default: Any = None) -> Any:
        own = self.own
        if own is not None and name in own:
            return own[name]
        return self.base.get(name, default)

    def merged(self) -> Json:
        """The Graph JSON as stored (a new top-level dict; nested values are shared)."""
        return {**self.base, **self.own} if self.own else dict(self.base)


class _FolderIndex:
    """Live items of one folder by sequence number (``live`` keeps ascending order)."""

    __slots__ = ("live", "seqs", "unread")

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.live: dict[int, str] = {}
        self.unread = 0

    def add(self, seq: int, iid: str) -> None:
        self.seqs.append(seq)
        self.live[seq] = iid

    def drop(self, seq: int) -> None:
        del self.live[seq]
        if len(self.seqs) > 64 and 2 * len(self.live) < len(self.seqs):
            self.seqs = list(self.live)


class MailboxState:
    """Folders, messages and rules of one mailbox; guard every use with :attr:`lock`."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.key = mailbox_key()
        self.root_id = item_id(self.key, b"\x01\x00")
        self.folders: dict[str, Json] = {}
        """folder id -> Graph mailFolder JSON (counts are computed when served)."""
        self.well_known: dict[str, str] = {}
        self.items: dict[str, Item] = {}
        self.rules: dict[str, Json] = {}
        """Graph messageRule JSON of the inbox, by rule id."""
        self.hidden_rules: list[Json] = []
        """Exchange ``Get-InboxRule`` objects only ``-IncludeHidden`` shows."""
        self.sent_log: list[Json] = []
        """What ``sendMail`` accepted from this mailbox: ``{"message", "recipients", "at"}``."""
        self.seq = 0
        self.epoch = secrets.token_hex(4)
        """Part of every delta token; changing it makes all of them expire (410)."""
        self._index: dict[str, _FolderIndex] = {}
        self._removals: list[tuple[int, str, str]] = []
        self._removal_seqs: list[int] = []
        self._sorted: dict[tuple[Any, ...], list[str]] = {}
        self._sorted_at = -1
        self.on_deliver: Callable[[str, str], None] | None = None
        """Called with (message id, folder id) after each delivery (change notifications)."""
        self._delivered: dict[str, str] = {}
        """internetMessageId -> id of the copy delivered first (Exchange drops duplicate deliveries)."""
        self.settings: Json | None = None
        """Graph ``mailboxSettings``, made from the owner's directory data on first use."""

    # -- loading -----------------------------------------------------------------------------

    @classmethod
    def from_seed(cls, seed: MailboxSeed) -> MailboxState:
        """Live state over a seed; seed messages are shared, not copied, and never mutated."""
        mb = cls()
        for fs in seed.folders:
            f = fs.folder
            fid = str(f.get("id") or item_id(mb.key, b"\x01\x00"))
            mb.folders[fid] = {"id": fid, "displayName": f.get("displayName") or fs.well_known_name or fid,
                               "parentFolderId": f.get("parentFolderId"), "isHidden": bool(f.get("isHidden"))}
            if fs.well_known_name:
                mb.well_known[fs.well_known_name.lower()] = fid
        mb._ensure_well_known()
        top = mb.well_known["msgfolderroot"]
        for fid, f in mb.folders.items():
            if f["parentFolderId"] not in mb.folders and fid not in (top, mb.well_known[
                    "recoverableitemsroot"]):
                f["parentFolderId"] = top
        inbox = mb.well_known["inbox"]
        not_delivered = mb._not_delivered()
        for m in seed.messages:
            folder = mb.resolve_folder(str(m.get("parentFolderId") or "")) or inbox
            iid = str(m.get("id") or item_id(mb.key))
            mb._insert(Item(iid, m, None, folder))
            if m.get("internetMessageId") and folder not in not_delivered:
                mb._delivered.setdefault(str(m["internetMessageId"]), iid)
        mb.rules = {str(r["id"]): copy.deepcopy(r) for r in seed.rules}
        mb.hidden_rules = [copy.deepcopy(r) for r in seed.hidden_rules]
        return mb

    def _ensure_well_known(self) -> None:
        for name, (display, parent, hidden) in WELL_KNOWN.items():
            if name in self.well_known:
                continue
            fid = item_id(self.key, b"\x01\x00")
            self.folders[fid] = {"id": fid, "displayName": display, "isHidden": hidden,
                                 "parentFolderId": self.well_known[parent] if parent else self.root_id}
            self.well_known[name] = fid

    # -- folders -----------------------------------------------------------------------------

    def resolve_folder(self, ref: str) -> str | None:
        """A folder id for an id or a well-known name, or None."""
        if ref in self.folders:
            return ref
        return self.well_known.get(ref.lower())

    def folder(self, ref: str) -> str:
        """Like :meth:`resolve_folder` but 404 ``ErrorItemNotFound`` when unknown."""
        fid = self.resolve_folder(ref)
        if fid is None:
            raise GraphHTTPError(404, "ErrorItemNotFound", NOT_FOUND)
        return fid

    def in_dumpster(self, fid: str) -> bool:
        return fid in {self.well_known[n] for n in DUMPSTER} or \
            self.folders.get(fid, {}).get("parentFolderId") == self.well_known["recoverableitemsroot"]

    def folder_json(self, fid: str) -> Json:
        """The mailFolder resource with its live counts."""
        f = self.folders[fid]
        idx = self._index.get(fid)
        children = sum(1 for g in self.folders.values() if g["parentFolderId"] == fid)
        return {"id": fid, "displayName": f["displayName"], "parentFolderId": f["parentFolderId"],
                "childFolderCount": children, "unreadItemCount": idx.unread if idx else 0,
                "totalItemCount": len(idx.live) if idx else 0, "isHidden": bool(f.get("isHidden"))}

    def child_folders(self, parent: str, include_hidden: bool = False) -> list[str]:
        return [fid for fid, f in self.folders.items()
                if f["parentFolderId"] == parent and (include_hidden or not f.get("isHidden"))]

    def create_folder(self, parent: str, name: str, hidden: bool = False) -> str:
        """A new folder under ``parent``; 409 ``ErrorFolderExists`` for a sibling's name."""
        with self.lock:
            low = name.strip().lower()
            if any(self.folders[c]["displayName"].lower() == low for c in self.child_folders(parent, True)):
                raise GraphHTTPError(409, "ErrorFolderExists",
                                     "A folder with the specified name already exists.")
            fid = item_id(self.key, b"\x01\x00")
            self.folders[fid] = {"id": fid, "displayName": name, "parentFolderId": parent, "isHidden": hidden}
            return fid

    # -- the change log ----------------------------------------------------------------------

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _place(self, item: Item) -> None:
        idx = self._index.get(item.folder)
        if idx is None:
            idx = self._index[item.folder] = _FolderIndex()
        idx.add(item.seq, item.id)
        if not item.get("isRead"):
            idx.unread += 1

    def _unplace(self, item: Item) -> None:
        idx = self._index[item.folder]
        idx.drop(item.seq)
        if not item.get("isRead"):
            idx.unread -= 1

    def _insert(self, item: Item) -> Item:
        item.seq = item.cseq = self._next()
        self.items[item.id] = item
        self._place(item)
        return item

    def _drop(self, item: Item) -> None:
        self._unplace(item)
        del self.items[item.id]
        seq = self._next()
        self._removals.append((seq, item.folder, item.id))
        self._removal_seqs.append(seq)

    def _stamp(self, own: Json, now: float | None) -> Json:
        own["changeKey"] = change_key()
        own["lastModifiedDateTime"] = iso(self.clock() if now is None else now)
        return own

    # -- messages ----------------------------------------------------------------------------

    def message_count(self) -> int:
        """Messages in every folder (the dumpster included)."""
        return len(self.items)

    def item(self, iid: str) -> Item:
        """A live message; 404 ``ErrorItemNotFound`` when unknown (or moved away)."""
        found = self.items.get(iid)
        if found is None:
            raise GraphHTTPError(404, "ErrorItemNotFound", NOT_FOUND)
        return found

    def deliver(self, message: Json, folder: str = "inbox", now: float | None = None) -> Json:
        """Store a new message (Graph JSON) in ``folder``: id, change key, times and defaults are
        filled in; a delta change is recorded. Returns the stored JSON.

        As Exchange does, a second delivery of one internetMessageId to the mailbox is dropped
        (message tracking's DUPLICATEDELIVER): nothing is stored or notified and the first copy is
        returned. Sent Items and Drafts copies are not deliveries: a message sent to oneself is kept
        twice, its Sent Items copy and the delivered one."""
        with self.lock:
            fid = self.folder(folder)
            delivery = fid not in self._not_delivered()
            imid = str(message.get("internetMessageId") or "")
            if delivery and imid and (first := self._first_copy(imid)) is not None:
                return {**first.merged(), "id": first.id, "parentFolderId": first.folder}
            ts = self.clock() if now is None else now
            base = fill_new_message(copy.deepcopy(message), ts)
            iid = str(base.pop("id", "") or "")
            if not iid or iid in self.items:
                iid = item_id(self.key)
            base.pop("parentFolderId", None)
            item = self._insert(Item(iid, base, None, fid))
            if delivery:
                self._delivered[str(base.get("internetMessageId") or "")] = iid
            if self.on_deliver is not None:
                self.on_deliver(iid, fid)
            return {**item.merged(), "id": iid, "parentFolderId": fid}

    def _not_delivered(self) -> set[str]:
        return {self.well_known[n] for n in ("sentitems", "drafts") if n in self.well_known}

    def _first_copy(self, imid: str) -> Item | None:
        """The live item of the first delivery of ``imid`` (moves give new ids: found by scanning)."""
        iid = self._delivered.get(imid)
        if iid is None:
            return None
        found = self.items.get(iid)
        if found is None:
            skip = self._not_delivered()
            found = next((i for i in self.items.values()
                          if i.get("internetMessageId") == imid and i.folder not in skip), None)
            if found is not None:
                self._delivered[imid] = found.id
        return found

    inject_message = deliver
    """Alias used by the sandbox control surface."""

    def update(self, iid: str, patch: Json, now: float | None = None) -> Item:
        """PATCH a message (``isRead``, ``categories``, ``flag`` ...); the item keeps its id."""
        with self.lock:
            item = self.item(iid)
            for name in patch:
                if name not in MESSAGE_PROPERTIES:
                    raise GraphHTTPError(400, "RequestBroker--ParseUri", f"Could not find a property named "
                                         f"'{name}' on type 'microsoft.graph.message'.")
                if name not in MESSAGE_WRITABLE and not item.get("isDraft"):
                    raise GraphHTTPError(400, "ErrorInvalidPropertyUpdateSentMessage",
                                         "Update operation is invalid for property of a sent message.")
            self._unplace(item)
            item.own = self._stamp({**(item.own or {}), **copy.deepcopy(patch)}, now)
            item.seq = self._next()
            self._place(item)
            return item

    def move(self, iid: str, destination: str, now: float | None = None, *, keep: bool = False) -> Item:
        """Move (or, with ``keep``, copy) a message; the result has a new id, as in Exchange."""
        with self.lock:
            item = self.item(iid)
            dest = self.folder(destination)
            own = self._stamp(dict(item.own or {}), now)
            if keep:
                own["createdDateTime"] = own["lastModifiedDateTime"]
            new = Item(item_id(self.key), item.base, own, dest)
            if not keep:
                self._drop(item)
            return self._insert(new)

    def delete(self, iid: str, now: float | None = None) -> Item:
        """DELETE: a soft delete into Recoverable Items\\Deletions (from there: Purges)."""
        with self.lock:
            deletions = self.well_known["recoverableitemsdeletions"]
            in_deletions = self.item(iid).folder == deletions
            target = "recoverableitemspurges" if in_deletions else "recoverableitemsdeletions"
            return self.move(iid, target, now)

    def permanent_delete(self, iid: str, now: float | None = None) -> Item:
        """``permanentDelete``: into Recoverable Items\\Purges, out of the user's reach."""
        return self.move(iid, "recoverableitemspurges", now)

    def ids_in(self, folder: str | None) -> list[str]:
        """Live ids of one folder, or of every visible folder (None), oldest change first."""
        if folder is not None:
            idx = self._index.get(folder)
            return list(idx.live.values()) if idx else []
        out: list[str] = []
        for fid, idx in self._index.items():
            if not self.in_dumpster(fid):
                out.extend(idx.live.values())
        return out

    def listing(self, folder: str | None, desc: bool, key: tuple[Any, ...],
                keep: Callable[[Item], bool] | None) -> list[str]:
        """Ids sorted by ``receivedDateTime`` and filtered; cached until the mailbox changes."""
        if self._sorted_at != self.seq:
            self._sorted.clear()
            self._sorted_at = self.seq
        ck = (folder, desc, key)
        hit = self._sorted.get(ck)
        if hit is None:
            items = [self.items[i] for i in self.ids_in(folder)]
            if keep is not None:
                items = [it for it in items if keep(it)]
            items.sort(key=lambda it: (parse_time(it.get("receivedDateTime")), it.seq), reverse=desc)
            hit = [it.id for it in items]
            if len(self._sorted) >= 8:
                self._sorted.clear()
            self._sorted[ck] = hit
        return hit

    # -- delta -------------------------------------------------------------------------------

    def delta_page(self, folder: str, since: int, upto: int, after: int, limit: int,
                   keep: Callable[[Item], bool], removed: bool = True) \
            -> tuple[list[Item | str], int, bool]:
        """Changes of ``folder`` with sequence in (max(since, after), upto]: live items, and ids
        (str) of items that left it. Returns (entries, last sequence read, round finished)."""
        start = max(since, after)
        streams: list[Iterator[tuple[int, Item | str]]] = [self._upserts(folder, start, upto)]
        if since > 0 and removed:
            streams.append(self._removed(folder, start, upto))
        out: list[Item | str] = []
        last = start
        it = merge(*streams, key=lambda e: e[0])
        for seq, entry in it:
            if len(out) >= limit:
                return out, last, False
            last = seq
            if isinstance(entry, str) or keep(entry):
                out.append(entry)
        return out, upto, True

    def _upserts(self, folder: str, start: int, upto: int) -> Iterator[tuple[int, Item | str]]:
        idx = self._index.get(folder)
        if idx is None:
            return
        seqs = idx.seqs
        i = bisect_right(seqs, start)
        while i < len(seqs) and seqs[i] <= upto:
            iid = idx.live.get(seqs[i])
            if iid is not None:
                yield seqs[i], self.items[iid]
            i += 1

    def _removed(self, folder: str, start: int, upto: int) -> Iterator[tuple[int, Item | str]]:
        i = bisect_right(self._removal_seqs, start)
        while i < len(self._removals) and self._removals[i][0] <= upto:
            seq, fid, iid = self._removals[i]
            if fid == folder:
                yield seq, iid
            i += 1

    def expire_delta(self) -> None:
        """Make every delta token of this mailbox answer 410."""
        with self.lock:
            self.epoch = secrets.token_hex(4)

    # -- rules -------------------------------------------------------------------------------

    # -- settings ----------------------------------------------------------------------------

    def mailbox_settings(self, owner: Json, recipient_type: str | None) -> Json:
        """The ``mailboxSettings`` of this mailbox (a copy): Exchange's defaults for a new mailbox
        of ``owner`` (time zone by country, locale from ``preferredLanguage``, purpose from the
        recipient type) overlaid by :meth:`update_settings`."""
        with self.lock:
            if self.settings is None:
                self.settings = default_settings(owner, recipient_type, self.well_known["archive"])
            return copy.deepcopy(self.settings)

    def update_settings(self, owner: Json, recipient_type: str | None, patch: Json) -> Json:
        """Merge ``patch`` into the settings (complex values one level deep, as Graph's PATCH)."""
        unknown = set(patch) - set(MAILBOX_SETTINGS_PROPERTIES)
        if unknown:
            raise GraphHTTPError(400, "BadRequest", f"Could not find a property named '{sorted(unknown)[0]}' "
                                 "on type 'microsoft.graph.mailboxSettings'.")
        with self.lock:
            current = self.mailbox_settings(owner, recipient_type)
            for key, value in patch.items():
                if isinstance(value, dict) and isinstance(current.get(key), dict):
                    current[key].update(copy.deepcopy(value))
                else:
                    current[key] = copy.deepcopy(value)
            self.settings = current
            return copy.deepcopy(current)

    def add_rule(self, rule: Json) -> Json:
        """Create an inbox rule (Graph messageRule JSON); returns it with its id."""
        with self.lock:
            check_rule(rule)
            if not rule.get("displayName"):
                raise GraphHTTPError(400, "ErrorInvalidRequest", "The rule must have a display name.")
            new = copy.deepcopy(rule)
            rid = str(new.get("id") or "")
            while not rid or rid in self.rules:
                rid = rule_id()
            seqs = [int(r.get("sequence") or 0) for r in self.rules.values()]
            out: Json = {"id": rid, "displayName": new["displayName"],
                         "sequence": new.get("sequence", max(seqs, default=0) + 1),
                         "isEnabled": new.get("isEnabled", True), "hasError": new.get("hasError", False),
                         "isReadOnly": new.get("isReadOnly", False)}
            for part in ("conditions", "exceptions", "actions"):
                if new.get(part):
                    out[part] = new[part]
            self.rules[rid] = out
            return out

    def rule(self, rid: str) -> Json:
        found = self.rules.get(rid)
        if found is None:
            raise GraphHTTPError(404, "ErrorItemNotFound", NOT_FOUND)
        return found

    def update_rule(self, rid: str, patch: Json) -> Json:
        """PATCH a rule; read-only rules refuse (400 ``ErrorInvalidRequest``)."""
        with self.lock:
            rule = self._writable_rule(rid)
            check_rule(patch)
            for name, value in copy.deepcopy(patch).items():
                if name in ("id", "isReadOnly", "hasError"):
                    continue
                if value is None:
                    rule.pop(name, None)
                else:
                    rule[name] = value
            return rule

    def delete_rule(self, rid: str) -> None:
        with self.lock:
            self._writable_rule(rid)
            del self.rules[rid]

    def _writable_rule(self, rid: str) -> Json:
        rule = self.rule(rid)
        if rule.get("isReadOnly"):
            raise GraphHTTPError(400, "ErrorInvalidRequest",
                                 "The rule is read-only and can't be modified or deleted through this API.")
        return rule


def default_settings(owner: Json, recipient_type: str | None, archive_folder: str) -> Json:
    """What Exchange Online gives a new mailbox of ``owner``, as Graph ``mailboxSettings``."""
    country = str(owner.get("country") or owner.get("usageLocation") or "").upper()
    zone = TIME_ZONES.get(country, "UTC")
    locale = str(owner.get("preferredLanguage") or "en-US")
    window = {"dateTime": "0001-01-01T00:00:00.0000000", "timeZone": "UTC"}
    return {
        "archiveFolder": archive_folder,
        "automaticRepliesSetting": {"status": "disabled", "externalAudience": "all",
                                    "internalReplyMessage": "", "externalReplyMessage": "",
                                    "scheduledStartDateTime": dict(window), "scheduledEndDateTime": dict(window)},
        "timeZone": zone,
        "language": {"locale": locale, "displayName": LOCALES.get(locale, locale)},
        "workingHours": {"daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                         "startTime": "08:00:00.0000000", "endTime": "17:00:00.0000000",
                         "timeZone": {"name": zone}},
        "userPurpose": USER_PURPOSE.get(recipient_type or "UserMailbox", "others"),
        "dateFormat": "M/d/yyyy" if locale == "en-US" else "dd/MM/yyyy",
        "timeFormat": "h:mm tt" if locale == "en-US" else "HH:mm",
        "delegateMeetingMessageDeliveryOptions": "sendToDelegateAndInformationToPrincipal",
    }


def check_rule(rule: Json) -> None:
    """400 for property names that ``messageRule`` and its predicates/actions do not have."""
    for name in rule:
        if name not in RULE_PROPERTIES:
            raise GraphHTTPError(400, "RequestBroker--ParseUri", f"Could not find a property named "
                                 f"'{name}' on type 'microsoft.graph.messageRule'.")
    for part, known, type_name in (("conditions", RULE_PREDICATES, "messageRulePredicates"),
                                   ("exceptions", RULE_PREDICATES, "messageRulePredicates"),
                                   ("actions", RULE_ACTIONS, "messageRuleActions")):
        value = rule.get(part)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise GraphHTTPError(400, "ErrorInvalidRequest", f"'{part}' must be an object.")
        for name in value:
            if name not in known:
                raise GraphHTTPError(400, "RequestBroker--ParseUri", f"Could not find a property named "
                                     f"'{name}' on type 'microsoft.graph.{type_name}'.")
