"""The Exchange Online cmdlets the admin API runs, over one tenant's state, without HTTP.

:class:`Cmdlets` runs Get-Mailbox, Get-Recipient, Get-InboxRule, Remove-InboxRule,
Disable-InboxRule, Set-Mailbox, Get-DistributionGroup and Get-DistributionGroupMember with
PowerShell's parameter binding rules and Exchange's object shapes (:func:`recipient_view`,
:func:`graph_rule_to_cmdlet`); a failure is :class:`CmdletError` (its .NET exception type and
text). :class:`ResultPages` keeps a result set while a client pages through it.
"""

from __future__ import annotations

import base64
import threading
import uuid
import weakref
import zlib
from collections.abc import Callable
from typing import Any, ClassVar

from m365sandbox import opath
from m365sandbox.core import Sandbox
from m365sandbox.state import TenantState

Json = dict[str, Any]
MAILBOX_TYPES = {"UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox", "SchedulingMailbox",
                 "DiscoveryMailbox"}
DL_TYPES = {"MailUniversalDistributionGroup", "MailUniversalSecurityGroup", "RoomList",
            "MailNonUniversalGroup"}
NOT_FOUND = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"


class CmdletError(Exception):
    """A failed cmdlet, rendered in the admin API's error shape."""

    def __init__(self, status: int, exception_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.exception_type, self.message = status, exception_type, message


def _not_found(ref: str) -> CmdletError:
    return CmdletError(404, NOT_FOUND, f"The operation couldn't be performed because object '{ref}' "
                       "couldn't be found on 'SANDBOXDC01.prod.outlook.com'.")


def recipient_view(t: TenantState, oid: str) -> Json:
    """The Get-Recipient/Get-Mailbox object of a directory object, from the recipient record."""
    rec = t.recipients.get(oid, {})
    src = t.users.get(oid) or t.groups.get(oid) or {}
    primary = rec.get("PrimarySmtpAddress") or src.get("mail") or src.get("userPrincipalName") or ""
    alias = rec.get("Alias") or src.get("mailNickname") or primary.split("@")[0]
    addresses = rec.get("EmailAddresses") or src.get("proxyAddresses") or [f"SMTP:{primary}"]
    details = rec.get("RecipientTypeDetails") or _default_type(src, oid in t.users)
    rtype = ("UserMailbox" if details in MAILBOX_TYPES else
             "MailUser" if details in ("MailUser", "GuestMailUser") else
             "MailUniversalDistributionGroup" if details == "GroupMailbox" else details)
    name = rec.get("Name") or alias
    view: Json = {
        "Identity": rec.get("Identity") or name, "Name": name, "Alias": alias,
        "DisplayName": rec.get("DisplayName") or src.get("displayName") or name,
        "PrimarySmtpAddress": primary, "EmailAddresses": list(addresses),
        "RecipientType": rec.get("RecipientType") or rtype, "RecipientTypeDetails": details,
        "ExternalDirectoryObjectId": oid,
        "Guid": rec.get("Guid") or str(uuid.uuid5(uuid.NAMESPACE_OID, f"{t.id}/{oid}")),
    }
    if oid in t.users or details in MAILBOX_TYPES:
        view.update({"UserPrincipalName": rec.get("UserPrincipalName") or src.get("userPrincipalName"),
                     "ForwardingSmtpAddress": rec.get("ForwardingSmtpAddress"),
                     "ForwardingAddress": rec.get("ForwardingAddress"),
                     "DeliverToMailboxAndForward": bool(rec.get("DeliverToMailboxAndForward", False))})
    for k, v in rec.items():
        view.setdefault(k, v)
    return view


def _default_type(src: Json, is_user: bool) -> str:
    if is_user:
        return "UserMailbox"
    if "Unified" in (src.get("groupTypes") or []):
        return "GroupMailbox"
    return "MailUniversalSecurityGroup" if src.get("securityEnabled") else "MailUniversalDistributionGroup"


def _all_recipient_ids(t: TenantState) -> list[str]:
    ids = list(t.recipients)
    ids += [g for g, grp in t.groups.items() if g not in t.recipients and grp.get("mailEnabled")]
    return ids


def _matches(view: Json, ref: str) -> bool:
    low = ref.lower()
    keys = [view.get(k) for k in ("Identity", "Name", "Alias", "PrimarySmtpAddress", "UserPrincipalName",
                                  "ExternalDirectoryObjectId", "Guid", "DisplayName")]
    keys += [a.split(":", 1)[-1] for a in view.get("EmailAddresses", [])]
    return any(isinstance(k, str) and k.lower() == low for k in keys)


def _candidate(t: TenantState, ref: str) -> str | None:
    """The recipient an object id, UPN or user address names, via the tenant's indexes (no scan)."""
    if ref in t.recipients or (ref in t.groups and t.groups[ref].get("mailEnabled")):
        return ref
    user = t.find_user(ref)
    return str(user["id"]) if user and user.get("id") in t.recipients else None


def _find(t: TenantState, ref: str, allowed: set[str] | None) -> Json:
    oid = _candidate(t, ref)
    if oid is not None:
        view = recipient_view(t, oid)
        if (allowed is None or view["RecipientTypeDetails"] in allowed) and _matches(view, ref):
            return view
    for oid in _all_recipient_ids(t):
        view = recipient_view(t, oid)
        if (allowed is None or view["RecipientTypeDetails"] in allowed) and _matches(view, ref):
            return view
    raise _not_found(ref)


def _rule_identity(rule_id: str) -> str:
    try:
        raw = base64.b64decode(rule_id, validate=True)
        if len(raw) == 8:
            return str(int.from_bytes(raw, "big"))
    except ValueError:
        pass
    return str(zlib.crc32(rule_id.encode()) << 32 | zlib.crc32(rule_id[::-1].encode()))


def _recips(items: list[Json] | None) -> list[str] | None:
    if not items:
        return None
    out = []
    for r in items:
        ea = r.get("emailAddress", {})
        out.append(f'"{ea.get("name") or ea.get("address")}" [SMTP:{ea.get("address")}]')
    return out


def graph_rule_to_cmdlet(rule: Json, owner: Json, folder_name: Callable[[str], str]) -> Json:
    """A Graph ``messageRule`` in Get-InboxRule's shape."""
    c, a = rule.get("conditions") or {}, rule.get("actions") or {}
    rid = _rule_identity(str(rule["id"]))
    move = a.get("moveToFolder")
    out: Json = {
        "Identity": f"{owner['Name']}\\{rid}", "Name": rule.get("displayName") or "",
        "RuleIdentity": rid, "Enabled": bool(rule.get("isEnabled", True)),
        "Priority": rule.get("sequence", 1), "InError": bool(rule.get("hasError", False)),
        "ForwardTo": _recips(a.get("forwardTo")),
        "ForwardAsAttachmentTo": _recips(a.get("forwardAsAttachmentTo")),
        "RedirectTo": _recips(a.get("redirectTo")),
        "DeleteMessage": bool(a.get("delete") or a.get("permanentDelete")),
        "SoftDeleteMessage": bool(a.get("delete")),
        "MoveToFolder": f"{owner['Name']}:\\{folder_name(move)}" if move else None,
        "MarkAsRead": bool(a.get("markAsRead")),
        "SubjectContainsWords": c.get("subjectContains"), "BodyContainsWords": c.get("bodyContains"),
        "SubjectOrBodyContainsWords": c.get("bodyOrSubjectContains"),
        "From": _recips(c.get("fromAddresses")),
        "StopProcessingRules": bool(a.get("stopProcessingRules")),
        "MailboxOwnerId": owner["Name"], "IsValid": True,
    }
    out["Description"] = _describe(out)
    return out


def _describe(r: Json) -> str:
    cond = []
    for key, text in (("SubjectContainsWords", "includes {} in the subject"),
                      ("BodyContainsWords", "includes {} in the body"),
                      ("SubjectOrBodyContainsWords", "includes {} in the subject or body"),
                      ("From", "is received from {}")):
        if r.get(key):
            cond.append("\t" + text.format(" or ".join(f"'{w}'" for w in r[key])))
    acts = []
    for key, text in (("ForwardTo", "forward the message to {}"),
                      ("ForwardAsAttachmentTo", "forward the message as an attachment to {}"),
                      ("RedirectTo", "redirect the message to {}")):
        if r.get(key):
            acts.append("\t" + text.format(" or ".join(r[key])))
    if r.get("MoveToFolder"):
        acts.append(f"\tmove the message to folder '{r['MoveToFolder']}'")
    if r.get("DeleteMessage"):
        acts.append("\tdelete the message")
    if r.get("MarkAsRead"):
        acts.append("\tmark the message as read")
    if r.get("StopProcessingRules"):
        acts.append("\tand stop processing more rules on this message")
    return ("If the message:\r\n" + "\r\n".join(cond) + "\r\n" if cond else "") + \
        "Take the following actions:\r\n" + "\r\n".join(acts) + "\r\n"


def _folder_namer(mb: Any) -> Callable[[str], str]:
    def name(folder_id: str) -> str:
        folders = getattr(mb, "folders", None)
        if isinstance(folders, dict):
            f = folders.get(folder_id)
            f = getattr(f, "folder", f)
            if isinstance(f, dict):
                return str(f.get("displayName", folder_id))
        return folder_id
    return name


class Cmdlets:
    """Cmdlet implementations over one tenant's state."""

    PARAMS: ClassVar[dict[str, set[str]]] = {
        "Get-Mailbox": {"Identity", "ResultSize", "RecipientTypeDetails", "Filter"},
        "Get-Recipient": {"Identity", "ResultSize", "RecipientTypeDetails", "Filter"},
        "Get-InboxRule": {"Mailbox", "IncludeHidden", "Identity", "ErrorAction"},
        "Remove-InboxRule": {"Mailbox", "Identity", "Confirm", "Force", "ErrorAction"},
        "Disable-InboxRule": {"Mailbox", "Identity", "Confirm", "Force", "ErrorAction"},
        "Set-Mailbox": {"Identity", "ForwardingSmtpAddress", "ForwardingAddress",
                        "DeliverToMailboxAndForward", "ErrorAction"},
        "Get-DistributionGroup": {"Identity", "ResultSize"},
        "Get-DistributionGroupMember": {"Identity", "ResultSize"},
    }

    def __init__(self, t: TenantState) -> None:
        self.t = t

    def run(self, name: str, params: Json) -> list[Json]:
        canonical = next((n for n in self.PARAMS if n.lower() == name.lower()), None)
        if canonical is None:
            raise CmdletError(400, "System.Management.Automation.CommandNotFoundException",
                              f"The term '{name}' is not recognized as the name of a cmdlet, function, "
                              "script file, or operable program.")
        for p in params:
            if p not in self.PARAMS[canonical]:
                raise CmdletError(400, "System.Management.Automation.ParameterBindingException",
                                  f"A parameter cannot be found that matches parameter name '{p}'.")
        method = getattr(self, canonical.replace("-", "_").lower())
        with self.t.lock:
            return method(params)

    def _types(self, params: Json, allowed: set[str] | None) -> set[str] | None:
        want = params.get("RecipientTypeDetails")
        if want:
            want_set = {want} if isinstance(want, str) else set(want)
            return want_set & allowed if allowed else want_set
        return allowed

    def _filtered(self, params: Json, ids: list[str]) -> list[str]:
        """``ids`` narrowed by an OPATH ``-Filter`` (see ``opath``), if one is given."""
        if not params.get("Filter"):
            return ids
        try:
            return opath.select_ids(str(params["Filter"]), ids, lambda oid: recipient_view(self.t, oid))
        except ValueError as exc:
            raise CmdletError(400, "System.Management.Automation.ParameterBindingException",
                              f"Cannot bind parameter 'Filter' to the target. {exc}") from exc

    def get_mailbox(self, params: Json) -> list[Json]:
        allowed = self._types(params, MAILBOX_TYPES)
        if params.get("Identity"):
            return [_find(self.t, str(params["Identity"]), allowed)]
        views = [recipient_view(self.t, oid) for oid in self._filtered(params, list(self.t.recipients))]
        return _limit([v for v in views if v["RecipientTypeDetails"] in (allowed or MAILBOX_TYPES)], params)

    def get_recipient(self, params: Json) -> list[Json]:
        allowed = self._types(params, None)
        if params.get("Identity"):
            return [_find(self.t, str(params["Identity"]), allowed)]
        views = [recipient_view(self.t, oid) for oid in self._filtered(params, _all_recipient_ids(self.t))]
        return _limit([v for v in views if allowed is None or v["RecipientTypeDetails"] in allowed], params)

    def _mailbox(self, params: Json) -> tuple[Json, Any]:
        ref = params.get("Mailbox")
        ident = str(params.get("Identity") or "")
        if not ref and "\\" in ident:
            ref = ident.split("\\", 1)[0]
        if not ref:
            raise CmdletError(400, "System.Management.Automation.ParameterBindingException",
                              "Cannot process argument because the value of argument 'Mailbox' is null.")
        view = _find(self.t, str(ref), MAILBOX_TYPES)
        return view, self.t.mailboxes.get(view["ExternalDirectoryObjectId"])

    def _rules(self, owner: Json, mb: Any, hidden: bool) -> list[tuple[Json, str, Any]]:
        """(cmdlet view, "visible"/"hidden", key) for each rule of the mailbox."""
        if mb is None:
            return []
        out: list[tuple[Json, str, Any]] = []
        namer = _folder_namer(mb)
        for rid, rule in getattr(mb, "rules", {}).items():
            out.append((graph_rule_to_cmdlet(rule, owner, namer), "visible", rid))
        if hidden:
            for i, rule in enumerate(getattr(mb, "hidden_rules", [])):
                view = {"MailboxOwnerId": owner["Name"], **rule}
                view.setdefault("RuleIdentity", str(rule.get("Identity", "")).split("\\")[-1])
                view.setdefault("Identity", f"{owner['Name']}\\{view['RuleIdentity']}")
                out.append((view, "hidden", i))
        return out

    def get_inboxrule(self, params: Json) -> list[Json]:
        owner, mb = self._mailbox(params)
        rules = self._rules(owner, mb, _truthy(params.get("IncludeHidden")))
        if params.get("Identity"):
            rules = [r for r in rules if _rule_matches(r[0], str(params["Identity"]))]
            if not rules:
                raise _not_found(str(params["Identity"]))
        return [r[0] for r in rules]

    def _one_rule(self, params: Json) -> tuple[Any, str, Any]:
        owner, mb = self._mailbox(params)
        ident = str(params.get("Identity") or "")
        for view, where, key in self._rules(owner, mb, hidden=True):
            if _rule_matches(view, ident):
                return mb, where, key
        raise _not_found(ident)

    def remove_inboxrule(self, params: Json) -> list[Json]:
        mb, where, key = self._one_rule(params)
        if where == "visible":
            del mb.rules[key]
        else:
            del mb.hidden_rules[key]
        return []

    def disable_inboxrule(self, params: Json) -> list[Json]:
        mb, where, key = self._one_rule(params)
        if where == "visible":
            mb.rules[key]["isEnabled"] = False
        else:
            mb.hidden_rules[key]["Enabled"] = False
        return []

    def set_mailbox(self, params: Json) -> list[Json]:
        view = _find(self.t, str(params.get("Identity") or ""), MAILBOX_TYPES)
        rec = self.t.recipients.setdefault(view["ExternalDirectoryObjectId"], {})
        for key in ("ForwardingSmtpAddress", "ForwardingAddress"):
            if key in params:
                value = params[key]
                if value in (None, "", "$null"):
                    rec[key] = None
                else:
                    value = str(value)
                    rec[key] = (value if ":" in value or key == "ForwardingAddress" else f"smtp:{value}")
        if "DeliverToMailboxAndForward" in params:
            rec["DeliverToMailboxAndForward"] = _truthy(params["DeliverToMailboxAndForward"])
        return []

    def get_distributiongroup(self, params: Json) -> list[Json]:
        if params.get("Identity"):
            return [_find(self.t, str(params["Identity"]), DL_TYPES)]
        views = [recipient_view(self.t, oid) for oid in self._filtered(params, _all_recipient_ids(self.t))]
        return _limit([v for v in views if v["RecipientTypeDetails"] in DL_TYPES], params)

    def get_distributiongroupmember(self, params: Json) -> list[Json]:
        group = _find(self.t, str(params.get("Identity") or ""), DL_TYPES)
        ids = self.t.members.get(group["ExternalDirectoryObjectId"], [])
        return _limit([recipient_view(self.t, m) for m in ids if self.t.object_type(m)], params)


def _truthy(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.lower() in ("true", "$true", "1"))


def _rule_matches(view: Json, ident: str) -> bool:
    low = ident.lower()
    return any(isinstance(v, str) and v.lower() == low
               for v in (view.get("Identity"), view.get("RuleIdentity"), view.get("Name")))


def _limit(items: list[Json], params: Json) -> list[Json]:
    size = params.get("ResultSize")
    if size is None or str(size).lower() == "unlimited":
        return items
    return items[: int(size)]


class ResultPages:
    """Result sets being paged through, by (tenant, snapshot id): later pages come from the rows
    computed for the first page (stable, and not rebuilt per page); the oldest go first."""

    MAX_SNAPSHOTS = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], list[Json]] = {}

    def keep(self, tenant_id: str, rows: list[Json]) -> str:
        """Store ``rows``; the snapshot id names them in the next page's token."""
        snap = uuid.uuid4().hex
        with self._lock:
            self._rows[(tenant_id, snap)] = rows
            while len(self._rows) > self.MAX_SNAPSHOTS:
                self._rows.pop(next(iter(self._rows)))
        return snap

    def get(self, tenant_id: str, snap: str) -> list[Json] | None:
        with self._lock:
            return self._rows.get((tenant_id, snap))

    def drop(self, tenant_id: str, snap: str) -> None:
        with self._lock:
            self._rows.pop((tenant_id, snap), None)


_PAGES: weakref.WeakKeyDictionary[Sandbox, ResultPages] = weakref.WeakKeyDictionary()
_PAGES_LOCK = threading.Lock()


def pages_of(sb: Sandbox) -> ResultPages:
    """The sandbox's result sets being paged through (one store per sandbox)."""
    with _PAGES_LOCK:
        pages = _PAGES.get(sb)
        if pages is None:
            pages = _PAGES[sb] = ResultPages()
        return pages
