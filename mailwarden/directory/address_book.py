"""The tenant's address book: every address resolved to its mailbox, every group to its members.

Built with vectorised pandas from a :class:`~mailwarden.directory.state.DirectoryState` (after
a sync) or from the store's directory tables (:meth:`AddressBook.load`). Three frames:

* ``objects``: one row per user/group (``object_id``, ``kind``, ``display_name``, ``upn``,
  ``mail``, ``primary_address``, ``recipient_type``, ``account_enabled``, ``user_type``,
  ``licensed``, ``licenses``, ``job_title``, ``location``, ``has_mailbox``, ``mailbox_location``:
  ``cloud``, or ``onprem`` for a mailbox on an on-premises Exchange in a hybrid tenant);
* ``addresses``: ``address`` (lower-cased), ``object_id``, ``is_primary`` -- from
  ``proxyAddresses`` ``SMTP:``/``smtp:`` entries, ``mail`` and the UPN;
* ``memberships``: ``group_id``, ``member_id``, ``transitive`` (False = direct member, True =
  reached only through nested groups).

``conflicts`` lists addresses claimed by more than one object.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from mailwarden.directory._gc import no_gc
from mailwarden.directory.state import DirectoryState

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

MAILBOX_TYPES = frozenset({
    "UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox", "SchedulingMailbox",
    "LinkedMailbox", "TeamMailbox", "RemoteUserMailbox", "RemoteSharedMailbox", "RemoteRoomMailbox",
    "RemoteEquipmentMailbox",
})  # fmt: skip
"""RecipientTypeDetails values that are mailboxes (``Remote*`` = on-premises, hybrid)."""
PROTECTED_TYPES = frozenset({
    "UserMailbox", "SharedMailbox", "LinkedMailbox", "RemoteUserMailbox", "RemoteSharedMailbox",
})  # fmt: skip
"""The mailboxes mailwarden protects: people's and shared ones (not rooms, equipment or scheduling)."""
EXECUTIVE_TITLE = re.compile(
    r"\b(?:chief|ceo|cfo|coo|cto|cio|ciso|cso|president|director|general counsel|founder|"
    r"vice[- ]president|vp|head of|treasurer|managing partner|chair(?:man|woman|person)?)\b",
    re.IGNORECASE,
)
OBJECT_COLUMNS = (
    "object_id", "kind", "display_name", "upn", "mail", "primary_address", "recipient_type",
    "account_enabled", "user_type", "licensed", "licenses", "job_title", "location", "has_mailbox",
    "mailbox_location",
)  # fmt: skip


def normalize_address(address: str) -> str:
    """``<Ann@X.com>``, ``mailto:ann@x.com``, ``SMTP:ann@x.com`` -> ``ann@x.com``."""
    a = str(address).strip().strip("<>").strip()
    low = a.lower()
    for prefix in ("mailto:", "smtp:"):
        if low.startswith(prefix):
            a = a[len(prefix):]
            break
    return a.strip().lower()


def _str_col(values: Iterable[Any], n: int) -> pd.Series:
    return pd.Series(list(values), dtype=object) if n else pd.Series([], dtype=object)


def objects_frame(state: DirectoryState) -> pd.DataFrame:
    """The ``objects`` frame of a directory state (one row per user and group)."""
    users = list(state.users.values())
    groups = list(state.groups.values())
    u = pd.DataFrame.from_records(users) if users else pd.DataFrame()
    g = pd.DataFrame.from_records(groups) if groups else pd.DataFrame()

    def col(df: pd.DataFrame, name: str) -> pd.Series:
        return df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index, dtype=object)

    licences = [
        ";".join(sorted(str(x.get("skuId")) for x in (row or []) if isinstance(x, Mapping)))
        for row in col(u, "assignedLicenses")
    ]
    uf = pd.DataFrame({
        "object_id": col(u, "id").astype(str) if len(u) else pd.Series([], dtype=object),
        "kind": "user",
        "display_name": col(u, "displayName"),
        "upn": col(u, "userPrincipalName"),
        "mail": col(u, "mail"),
        "account_enabled": col(u, "accountEnabled"),
        "user_type": col(u, "userType"),
        "licenses": _str_col(licences, len(u)),
        "job_title": col(u, "jobTitle"),
        "location": np.where(col(u, "onPremisesSyncEnabled").eq(True), "onprem", "cloud") if len(u) else [],
        "_proxy": col(u, "proxyAddresses"),
    })
    gf = pd.DataFrame({
        "object_id": col(g, "id").astype(str) if len(g) else pd.Series([], dtype=object),
        "kind": "group",
        "display_name": col(g, "displayName"),
        "upn": None,
        "mail": col(g, "mail"),
        "account_enabled": None,
        "user_type": None,
        "licenses": "",
        "job_title": None,
        "location": "cloud",
        "_proxy": col(g, "proxyAddresses"),
    })
    frames = [f for f in (uf, gf) if len(f)]
    objs = pd.concat(frames, ignore_index=True) if frames else uf.iloc[0:0]
    rtypes = pd.Series(state.recipient_types, dtype=object)
    objs["recipient_type"] = objs["object_id"].map(rtypes) if len(rtypes) else None
    return objs


def addresses_frame(objs: pd.DataFrame) -> pd.DataFrame:
    """Addresses from ``_proxy`` (proxyAddresses), ``mail`` and ``upn`` of an objects frame."""
    proxy = objs[["object_id", "_proxy"]].explode("_proxy").dropna(subset=["_proxy"])
    text = proxy["_proxy"].astype(str)
    smtp = text.str.match(r"(?i)^smtp:")
    proxy = pd.DataFrame({
        "address": text[smtp].str.slice(5).str.strip().str.lower(),
        "object_id": proxy["object_id"][smtp],
        "is_primary": text[smtp].str.startswith("SMTP:"),
    })
    mail = objs[["object_id", "mail"]].dropna(subset=["mail"]).rename(columns={"mail": "address"})
    upn = objs[["object_id", "upn"]].dropna(subset=["upn"]).rename(columns={"upn": "address"})
    extra = pd.concat([mail, upn], ignore_index=True)
    extra["address"] = extra["address"].astype(str).str.strip().str.lower()
    extra["is_primary"] = False
    out = pd.concat([proxy, extra[["address", "object_id", "is_primary"]]], ignore_index=True)
    out = out[out["address"].str.contains("@", regex=False)]
    out = out.sort_values("is_primary", ascending=False, kind="stable")
    return out.drop_duplicates(["address", "object_id"]).reset_index(drop=True)


def memberships_frame(state: DirectoryState) -> pd.DataFrame:
    """Direct memberships (``group_id``, ``member_id``) of a state, members of known objects only."""
    known = state.object_ids()
    pairs = [(g, m) for g, mids in state.members.items() if g in state.groups for m in mids if m in known]
    return pd.DataFrame(pairs, columns=["group_id", "member_id"], dtype=object)


def grouped_sets(keys: pd.Series, values: pd.Series) -> dict[str, set[str]]:
    """``{key: set of its values}`` of two aligned columns (factorised and split, no Python groupby)."""
    if not len(keys):
        return {}
    codes, uniques = pd.factorize(keys.to_numpy(dtype=object))
    order = np.argsort(codes, kind="stable")
    bounds = np.cumsum(np.bincount(codes))[:-1]
    parts = np.split(values.to_numpy(dtype=object)[order], bounds)
    return {str(k): set(part) for k, part in zip(uniques, parts, strict=True)}


def transitive_closure(direct: pd.DataFrame) -> pd.DataFrame:
    """``group_id``/``member_id``/``transitive`` for every member reached through nesting (cycles ok).

    A member reached both directly and through nesting stays marked direct (``transitive=False``).
    """
    edges = direct[direct["group_id"] != direct["member_id"]]
    members = grouped_sets(edges["group_id"], edges["member_id"])
    reach = _Reach(members, set(members))
    out_g: list[str] = []
    out_m: list[str] = []
    out_t: list[bool] = []
    for g in members:
        d, r = reach.of(g)
        nested = r - d
        out_g += [g] * len(r)
        out_m += d
        out_m += nested
        out_t += [False] * len(d)
        out_t += [True] * len(nested)
    return pd.DataFrame({"group_id": pd.Series(out_g, dtype=object), "member_id": pd.Series(out_m, dtype=object),
                         "transitive": pd.Series(out_t, dtype=bool)})


class _Lookup:
    """The dicts and sets behind the queries, built on first use (see :meth:`AddressBook._lookup`)."""

    __slots__ = ("external_owned", "group_mailboxes", "groups", "mailboxes", "owners")

    def __init__(self, objects: pd.DataFrame, addresses: pd.DataFrame, memberships: pd.DataFrame) -> None:
        addr = addresses
        dup = addr["address"].duplicated(keep=False)
        single = addr[~dup]
        owners: dict[str, tuple[str, ...]] = dict(
            zip(single["address"], zip(single["object_id"]), strict=True))
        multi = addr[dup].groupby("address")["object_id"].agg(sorted)
        owners.update({str(k): tuple(v) for k, v in multi.items()})
        self.owners = owners
        self.mailboxes = frozenset(objects.index[objects["has_mailbox"].fillna(False).astype(bool)])
        self.groups = frozenset(objects.index[objects["kind"].eq("group")])
        guests = frozenset(objects.index[objects["user_type"].eq("Guest")])
        guest_only = addr[addr["object_id"].isin(guests)]["address"]
        member_owned = set(addr[~addr["object_id"].isin(guests)]["address"])
        self.external_owned = frozenset(set(guest_only) - member_owned)
        m = memberships[memberships["member_id"].isin(self.mailboxes)]
        self.group_mailboxes: dict[str, frozenset[str]] = {
            g: frozenset(ids) for g, ids in grouped_sets(m["group_id"], m["member_id"]).items()}


class BookChanges:
    """What :meth:`AddressBook.updated` changed: lets ``save_snapshot`` write only those rows.

    ``objects``: ids whose object and address rows were rebuilt or removed (``removed``);
    ``groups``: groups whose direct members may differ; ``memberships_added`` /
    ``memberships_removed``: the exact membership rows (direct and nested) that differ;
    ``base``: the stored snapshot the old book was loaded from (None when unknown).
    """

    __slots__ = ("base", "groups", "memberships_added", "memberships_removed", "objects", "removed")

    def __init__(self, objects: set[str], removed: set[str], groups: set[str],
                 memberships_added: pd.DataFrame, memberships_removed: pd.DataFrame,
                 base: tuple[int, str] | None) -> None:
        self.objects, self.removed, self.groups = objects, removed, groups
        self.memberships_added, self.memberships_removed = memberships_added, memberships_removed
        self.base = base

    def __repr__(self) -> str:
        return (f"BookChanges(objects={len(self.objects)}, removed={len(self.removed)}, "
                f"groups={len(self.groups)}, memberships=+{len(self.memberships_added)}"
                f"/-{len(self.memberships_removed)})")


def _finish_objects(objs: pd.DataFrame, addresses: pd.DataFrame) -> pd.DataFrame:
    """``has_mailbox`` (unless given), ``licensed`` and ``primary_address`` of an objects frame."""
    objs = objs.drop(columns=[c for c in ("_proxy",) if c in objs.columns]).copy()
    if "has_mailbox" not in objs.columns:
        rtype = objs["recipient_type"]
        objs["has_mailbox"] = rtype.isin(MAILBOX_TYPES) | (
            rtype.isna() & objs["kind"].eq("user") & objs["mail"].notna()
            & objs["user_type"].ne("Guest"))
    # hybrid: Exchange Online knows an on-premises mailbox as a MailUser synced from on-premises
    onprem = objs["recipient_type"].eq("MailUser") & objs["location"].eq("onprem") & objs["kind"].eq("user")
    objs["has_mailbox"] = objs["has_mailbox"].fillna(False).astype(bool) | onprem
    objs["mailbox_location"] = np.where(onprem, "onprem", "cloud")
    objs["licensed"] = objs["licenses"].fillna("").astype(str).ne("")
    prim_rows = addresses[addresses["is_primary"]].drop_duplicates("object_id")
    prim = prim_rows.set_index("object_id")["address"]
    fallback = objs["mail"].fillna(objs["upn"]).astype(object).str.lower()
    objs["primary_address"] = objs["object_id"].map(prim).fillna(fallback)
    return objs[list(OBJECT_COLUMNS)].set_index("object_id", drop=False)


def changed_objects(old: DirectoryState, new: DirectoryState) -> tuple[set[str], set[str], set[str]]:
    """(objects whose Graph JSON or recipient type differ, objects removed, groups whose members differ).

    Unchanged objects shared by a delta's copy are the same dicts, so this costs one identity
    check per object; groups count as changed when their direct member set differs or holds an
    object that appeared or went.
    """
    changed: set[str] = set()
    removed: set[str] = set()
    for before, after in ((old.users, new.users), (old.groups, new.groups)):
        for oid, obj in after.items():
            prev = before.get(oid)
            if prev is not obj and prev != obj:
                changed.add(oid)
        removed |= before.keys() - after.keys()
    changed |= {oid for oid, _ in old.recipient_types.items() ^ new.recipient_types.items()}
    changed |= removed
    came_or_went = (changed - old.object_ids()) | removed
    groups = {g for g in old.members.keys() | new.members.keys()
              if old.members.get(g) != new.members.get(g)}
    for members in (old.members, new.members):
        groups |= {g for g, mids in members.items() if not mids.isdisjoint(came_or_went)}
    groups |= (changed | removed) & (old.groups.keys() | new.groups.keys())
    return changed, removed, groups


class _Reach:
    """Direct and nested members of groups, with set operations (C speed).

    ``members``: group -> direct member ids; ``groups``: the group ids; ``known``: when given,
    members outside it are ignored (as ``memberships_frame`` ignores unknown objects).
    """

    def __init__(self, members: Mapping[str, set[str]], groups: set[str], known: set[str] | None = None) -> None:
        self.members, self.groups, self.known = members, groups, known
        self._direct: dict[str, set[str]] = {}

    @classmethod
    def of_state(cls, state: DirectoryState) -> _Reach:
        return cls(state.members, set(state.groups), state.object_ids())

    def direct(self, g: str) -> set[str]:
        """Direct members of ``g`` (known ones), itself excluded (memoised)."""
        got = self._direct.get(g)
        if got is None:
            mids = self.members.get(g, set())
            got = self._direct[g] = (mids & self.known if self.known is not None else set(mids)) - {g}
        return got

    def of(self, g: str) -> tuple[set[str], set[str]]:
        """(direct members, every member reached through nesting) of ``g``, as ``transitive_closure``."""
        if g not in self.groups:
            return set(), set()
        direct = self.direct(g)
        reach = set(direct)
        stack = list(direct & self.groups)
        expanded = {g}
        while stack:
            x = stack.pop()
            if x in expanded:
                continue
            expanded.add(x)
            new = self.direct(x) - reach
            reach |= new
            stack.extend(new & self.groups)
        reach.discard(g)
        return direct, reach

    def ancestors(self, targets: set[str]) -> set[str]:
        """Groups that reach any of ``targets`` through membership (nested included)."""
        parents: dict[str, set[str]] = {}
        for g in self.groups:
            for x in self.direct(g) & self.groups:
                parents.setdefault(x, set()).add(g)
        out: set[str] = set()
        stack = list(targets)
        while stack:
            for p in parents.get(stack.pop(), ()):
                if p not in out:
                    out.add(p)
                    stack.append(p)
        return out


def _closure_changes(old: DirectoryState, new: DirectoryState,
                     groups: set[str]) -> tuple[list[tuple[str, str, bool]], list[tuple[str, str, bool]]]:
    """(rows added, rows removed) of the membership closure, given the groups whose direct members
    changed: only they and the groups that contained them (before the change) can differ."""
    before, after = _Reach.of_state(old), _Reach.of_state(new)
    roots = sorted(groups | before.ancestors(groups))
    added: list[tuple[str, str, bool]] = []
    removed: list[tuple[str, str, bool]] = []
    for g in roots:
        d0, r0 = before.of(g)
        d1, r1 = after.of(g)
        removed += [(g, m, m not in d0) for m in r0 - r1]
        added += [(g, m, m not in d1) for m in r1 - r0]
        for m in (d0 ^ d1) & r0 & r1:  # direct <-> nested only
            removed.append((g, m, m not in d0))
            added.append((g, m, m not in d1))
    return added, removed


def _rows_frame(rows: list[tuple[str, str, bool]]) -> pd.DataFrame:
    return pd.DataFrame({"group_id": pd.Series([r[0] for r in rows], dtype=object),
                         "member_id": pd.Series([r[1] for r in rows], dtype=object),
                         "transitive": pd.Series([r[2] for r in rows], dtype=bool)})


class AddressBook:
    """Every address of a tenant resolved to mailbox object ids (see module docstring)."""

    changes: BookChanges | None = None
    """Set by :meth:`updated`: the rows that differ from the book it was derived from."""

    def __init__(
        self,
        tenant_id: str,
        objects: pd.DataFrame,
        addresses: pd.DataFrame,
        memberships: pd.DataFrame,
        domains: Iterable[str] = (),
    ) -> None:
        self.tenant_id = tenant_id
        self.domains = frozenset(d.strip().lower() for d in domains if d and str(d).strip())
        self.objects = _finish_objects(objects, addresses)
        self.addresses = addresses[["address", "object_id", "is_primary"]].reset_index(drop=True)
        if "transitive" in memberships.columns:
            self.memberships = memberships[["group_id", "member_id", "transitive"]].reset_index(drop=True)
        else:
            self.memberships = transitive_closure(memberships)
        self._index()

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_state(cls, state: DirectoryState) -> AddressBook:
        """Build the book from a synced directory (vectorised; no per-address Python loop)."""
        objs = objects_frame(state)
        return cls(state.tenant_id, objs, addresses_frame(objs), memberships_frame(state), state.domains)

    @classmethod
    def from_frames(cls, tenant_id: str, objects: pd.DataFrame, addresses: pd.DataFrame,
                    memberships: pd.DataFrame, domains: Iterable[str] = ()) -> AddressBook:
        """A book from the three frames of another book (all columns present; nothing recomputed)."""
        book = cls.__new__(cls)
        book.tenant_id = tenant_id
        book.domains = frozenset(d.strip().lower() for d in domains if d and str(d).strip())
        book.objects = objects
        book.addresses = addresses.reset_index(drop=True)
        book.memberships = memberships.reset_index(drop=True)
        book._index()
        return book

    @no_gc()
    def updated(self, old: DirectoryState, new: DirectoryState) -> AddressBook:
        """The book of ``new``, given that this one is the book of ``old`` (a delta's starting point).

        Only the objects that differ are rebuilt (the same vectorised code as :meth:`from_state`
        on those rows); for the groups whose closure can have changed (a changed group and every
        group that contained it) the members reached before and after are compared as sets, and
        only the rows that differ are dropped or added. The result equals
        ``AddressBook.from_state(new)`` up to row order, and carries :class:`BookChanges`.
        """
        changed, removed, groups = changed_objects(old, new)
        live = changed - removed
        sub = DirectoryState(new.tenant_id,
                             users={i: new.users[i] for i in live if i in new.users},
                             groups={i: new.groups[i] for i in live if i in new.groups},
                             recipient_types={i: new.recipient_types[i] for i in live
                                              if i in new.recipient_types})
        sub_objs = objects_frame(sub)
        sub_addr = addresses_frame(sub_objs)
        sub_objs = _finish_objects(sub_objs, sub_addr)
        o, a, m = self.objects, self.addresses, self.memberships
        objects = pd.concat([o[~o.index.isin(changed)], sub_objs])
        addresses = pd.concat([a[~a["object_id"].isin(changed)], sub_addr[list(a.columns)]], ignore_index=True)
        plus, minus = _closure_changes(old, new, groups)
        drop = set(minus)
        maybe = m.index[m["member_id"].isin({r[1] for r in minus}) & m["group_id"].isin({r[0] for r in minus})]
        rows = m.loc[maybe]
        hit = [r in drop for r in zip(rows["group_id"], rows["member_id"], rows["transitive"].astype(bool),
                                      strict=True)]
        added, gone = _rows_frame(plus), _rows_frame(minus)
        memberships = pd.concat([m.drop(index=maybe[hit]), added], ignore_index=True)
        book = AddressBook.from_frames(new.tenant_id, objects, addresses, memberships, new.domains)
        book.changes = BookChanges(changed, removed, groups, added, gone, old.snapshot)
        return book

    def _index(self) -> None:
        addr = self.addresses
        dup = addr["address"].duplicated(keep=False)
        multi = addr[dup].groupby("address")["object_id"].agg(sorted)
        self.conflicts = pd.DataFrame({"address": multi.index, "object_ids": [list(v) for v in multi]},
                                      columns=["address", "object_ids"])
        self._lookup_cache: _Lookup | None = None

    def _lookup(self) -> _Lookup:
        """Owners by address, mailbox and group ids, group -> member mailboxes (built once, on demand)."""
        if self._lookup_cache is None:
            self._lookup_cache = _Lookup(self.objects, self.addresses, self.memberships)
        return self._lookup_cache

    # -- queries -----------------------------------------------------------------------------
    def owners(self, address: str) -> tuple[str, ...]:
        """Object ids that claim ``address`` (several means a conflict)."""
        return self._lookup().owners.get(normalize_address(address), ())

    def resolve(self, address: str) -> set[str]:
        """Mailbox object ids an address reaches: an alias its mailbox, a group its member mailboxes."""
        look = self._lookup()
        out: set[str] = set()
        for oid in self.owners(address):
            if oid in look.mailboxes:
                out.add(oid)
            elif oid in look.groups:
                out |= look.group_mailboxes.get(oid, frozenset())
        return out

    def mailbox_of(self, address: str) -> str | None:
        """The one mailbox owning ``address`` (alias or primary); None for groups, unknown or ambiguous."""
        boxes = [oid for oid in self.owners(address) if oid in self._lookup().mailboxes]
        return boxes[0] if len(boxes) == 1 else None

    def is_internal(self, address: str) -> bool:
        """An address of the tenant (not a guest's outside address) or on a verified domain."""
        a, look = normalize_address(address), self._lookup()
        if a in look.owners and a not in look.external_owned:
            return True
        return a.rpartition("@")[2] in self.domains

    def addresses_of(self, object_ids: Iterable[str]) -> dict[str, str]:
        """Object id -> its address (primary SMTP, else UPN) for display; unknown ids map to themselves."""
        prim = self.objects["primary_address"]
        out: dict[str, str] = {}
        for oid in object_ids:
            addr = prim.get(oid) if oid in prim.index else None
            out[oid] = str(addr) if isinstance(addr, str) and addr else oid
        return out

    def protected_mailboxes(self) -> list[str]:
        """Mailbox ids of the tenant's people and shared mailboxes, sorted: what scans, threat
        response and continuous protection cover.

        Guests, room, equipment and scheduling mailboxes are not protected; an on-premises mailbox
        (hybrid: Exchange Online sees a ``MailUser``) is, and so is a mailbox whose recipient type
        is not known yet.
        """
        o = self.objects
        rtype = o["recipient_type"]
        person_or_shared = rtype.isin(PROTECTED_TYPES) | rtype.isna() | o["mailbox_location"].eq("onprem")
        mask = o["has_mailbox"].fillna(False).astype(bool) & o["user_type"].ne("Guest") & person_or_shared
        return sorted(str(i) for i in o.index[mask])

    def mailboxes_named(self, refs: Iterable[str], domain: str) -> list[str]:
        """The mailbox ids of ``refs`` (object ids or addresses), each once, sorted.

        ``ValueError`` ("'x' is not a mailbox of <domain>") for the first that names none.
        """
        out: set[str] = set()
        for ref in refs:
            mailbox = ref if ref in self.objects.index else self.mailbox_of(ref)
            if mailbox is None:
                raise ValueError(f"{ref!r} is not a mailbox of {domain}")
            out.add(mailbox)
        return sorted(out)

    def executives(self) -> set[str]:
        """Object ids of enabled member users whose job title names an executive role."""
        o = self.objects
        is_exec = o["job_title"].fillna("").astype(str).str.contains(EXECUTIVE_TITLE)
        mask = is_exec & o["kind"].eq("user") & o["user_type"].ne("Guest") & o["account_enabled"].ne(False)
        return set(o.index[mask])

    def display_names(self) -> dict[str, str]:
        """Display name -> primary address of the tenant's people and mailboxes (not guests)."""
        o = self.objects
        o = o[o["has_mailbox"].fillna(False).astype(bool) & o["user_type"].ne("Guest")]
        o = o.dropna(subset=["display_name", "primary_address"])
        return dict(zip(o["display_name"].astype(str), o["primary_address"].astype(str), strict=True))

    def detection_context_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``mailwarden.detection.DetectionContext`` from this book."""
        execs = self.objects.loc[sorted(self.executives()), "display_name"].dropna()
        return {
            "tenant_domains": frozenset(self.domains),
            "internal_addresses": frozenset(set(self._lookup().owners) - self._lookup().external_owned),
            "internal_display_names": self.display_names(),
            "executives": frozenset(execs.astype(str)),
        }

    def __len__(self) -> int:
        return int(self.addresses["address"].nunique())

    def __repr__(self) -> str:
        return (f"AddressBook(tenant_id={self.tenant_id!r}, objects={len(self.objects)}, "
                f"addresses={len(self)}, conflicts={len(self.conflicts)})")

    def to_csv_frame(self) -> pd.DataFrame:
        """One row per (address, object): what an operator exports."""
        cols = ["object_id", "kind", "display_name", "recipient_type"]
        out = self.addresses.merge(self.objects[cols].reset_index(drop=True), on="object_id", how="left")
        return out.sort_values(["address", "object_id"]).reset_index(drop=True)

    # -- store -------------------------------------------------------------------------------
    def object_records(self, ids: Iterable[str] | None = None, *,
                       raw: Mapping[str, Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
        """``DirectoryObject`` rows of the book's objects (all, or those of ``ids``), ``raw`` JSON by id."""
        raw = raw or {}
        o = self.objects if ids is None else self.objects[self.objects.index.isin(set(ids))]
        cols = ["object_id", "kind", "display_name", "upn", "mail", "recipient_type", "account_enabled",
                "user_type", "licensed", "location"]
        records = cast(list[dict[str, Any]], o[cols].astype(object).where(o[cols].notna(), None).to_dict("records"))
        for rec in records:
            rec["raw"] = raw.get(rec["object_id"])
        return records

    def save(self, session: Session, *, raw: Mapping[str, Mapping[str, Any]] | None = None) -> Any:
        """Replace the tenant's directory tables with this book (``save_directory``, same transaction)."""
        from mailwarden.store.repositories import save_directory

        addresses = cast(list[dict[str, Any]], self.addresses.to_dict("records"))
        memberships = cast(list[dict[str, Any]], self.memberships.to_dict("records"))
        return save_directory(session, self.tenant_id, self.object_records(raw=raw), addresses, memberships)

    @classmethod
    def load(cls, session: Session, tenant_id: str) -> AddressBook:
        """The book as last saved for the tenant (directory tables + the latest snapshot's domains).

        Raises ``LookupError`` when the tenant has no complete snapshot yet.
        """
        from mailwarden.directory.persist import load_state

        state = load_state(session, tenant_id)
        if state is None:
            raise LookupError(f"no directory snapshot for tenant {tenant_id}: run reconcile-licenses first")
        return cls.from_state(state)
