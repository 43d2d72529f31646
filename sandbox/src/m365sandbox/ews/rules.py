"""Inbox rules (Graph ``messageRule`` JSON in the mail model) as EWS ``t:Rule`` elements."""

from __future__ import annotations

from typing import Any

from lxml import etree

from m365sandbox.ews.soap import Element, M, T, q, sub

Json = dict[str, Any]
_STRINGS = [  # (Graph predicate, EWS element) in RulePredicatesType order
    ("categories", "Categories"), ("bodyContains", "ContainsBodyStrings"),
    ("headerContains", "ContainsHeaderStrings"), ("recipientContains", "ContainsRecipientStrings"),
    ("senderContains", "ContainsSenderStrings"), ("bodyOrSubjectContains", "ContainsSubjectOrBodyStrings"),
    ("subjectContains", "ContainsSubjectStrings"),
]
_FLAGS_AFTER_FROM = [
    ("hasAttachments", "HasAttachments"), ("isApprovalRequest", "IsApprovalRequest"),
    ("isAutomaticForward", "IsAutomaticForward"), ("isAutomaticReply", "IsAutomaticReply"),
    ("isEncrypted", "IsEncrypted"), ("isMeetingRequest", "IsMeetingRequest"),
    ("isMeetingResponse", "IsMeetingResponse"), ("isNonDeliveryReport", "IsNDR"),
    ("isPermissionControlled", "IsPermissionControlled"), ("isReadReceipt", "IsReadReceipt"),
    ("isSigned", "IsSigned"), ("isVoicemail", "IsVoicemail"),
]
_FLAGS_LAST = [("notSentToMe", "NotSentToMe"), ("sentCcMe", "SentCcMe"), ("sentOnlyToMe", "SentOnlyToMe")]
_FLAGS_TO = [("sentToMe", "SentToMe"), ("sentToOrCcMe", "SentToOrCcMe")]


def _addresses(parent: Element, tag: str, recipients: Any) -> None:
    values = [r for r in recipients or [] if ((r or {}).get("emailAddress") or {}).get("address")]
    if not values:
        return
    box = sub(parent, T, tag)
    for r in values:
        email = r["emailAddress"]
        addr = sub(box, T, "Address")
        if email.get("name"):
            sub(addr, T, "Name", str(email["name"]))
        sub(addr, T, "EmailAddress", str(email["address"]))
        sub(addr, T, "RoutingType", "SMTP")


def _flag(parent: Element, tag: str, value: Any) -> None:
    if value:
        sub(parent, T, tag, "true")


def _predicates(parent: Element, tag: str, preds: Json | None) -> None:
    if not preds:
        return
    el = sub(parent, T, tag)
    for key, name in _STRINGS:
        if preds.get(key):
            box = sub(el, T, name)
            for s in preds[key]:
                sub(box, T, "String", str(s))
    _addresses(el, "FromAddresses", preds.get("fromAddresses"))
    for key, name in _FLAGS_AFTER_FROM:
        _flag(el, name, preds.get(key))
    if preds.get("importance"):
        sub(el, T, "Importance", str(preds["importance"]).capitalize())
    for key, name in _FLAGS_LAST:
        _flag(el, name, preds.get(key))
    _addresses(el, "SentToAddresses", preds.get("sentToAddresses"))
    for key, name in _FLAGS_TO:
        _flag(el, name, preds.get(key))


def _actions(parent: Element, acts: Json | None) -> None:
    el = sub(parent, T, "Actions")
    acts = acts or {}
    if acts.get("assignCategories"):
        box = sub(el, T, "AssignCategories")
        for c in acts["assignCategories"]:
            sub(box, T, "String", str(c))
    if acts.get("copyToFolder"):
        sub(sub(el, T, "CopyToFolder"), T, "FolderId", Id=str(acts["copyToFolder"]))
    _flag(el, "Delete", acts.get("delete"))
    _addresses(el, "ForwardAsAttachmentToRecipients", acts.get("forwardAsAttachmentTo"))
    _addresses(el, "ForwardToRecipients", acts.get("forwardTo"))
    if acts.get("markImportance"):
        sub(el, T, "MarkImportance", str(acts["markImportance"]).capitalize())
    _flag(el, "MarkAsRead", acts.get("markAsRead"))
    if acts.get("moveToFolder"):
        sub(sub(el, T, "MoveToFolder"), T, "FolderId", Id=str(acts["moveToFolder"]))
    _flag(el, "PermanentDelete", acts.get("permanentDelete"))
    _addresses(el, "RedirectToRecipients", acts.get("redirectTo"))
    _flag(el, "StopProcessingRules", acts.get("stopProcessingRules"))


def rule(parent: Element, r: Json) -> None:
    """``<t:Rule>`` of a Graph messageRule."""
    el = sub(parent, T, "Rule")
    sub(el, T, "RuleId", str(r["id"]))
    sub(el, T, "DisplayName", str(r.get("displayName") or ""))
    sub(el, T, "Priority", str(int(r.get("sequence") or 1)))
    sub(el, T, "IsEnabled", "true" if r.get("isEnabled", True) else "false")
    sub(el, T, "IsNotSupported", "false")
    sub(el, T, "IsInError", "true" if r.get("hasError") else "false")
    _predicates(el, "Conditions", r.get("conditions"))
    _predicates(el, "Exceptions", r.get("exceptions"))
    _actions(el, r.get("actions"))


def single_response(operation: str) -> Element:
    """``GetInboxRulesResponse``/``UpdateInboxRulesResponse``: one message, no ResponseMessages."""
    resp = etree.Element(q(M, f"{operation}Response"), {"ResponseClass": "Success"}, nsmap={"m": M, "t": T})
    sub(resp, M, "ResponseCode", "NoError")
    return resp


def validation_error(missing: list[tuple[int, str]]) -> Element:
    """``ErrorInboxRulesValidationError`` naming each operation whose rule does not exist."""
    resp = etree.Element(q(M, "UpdateInboxRulesResponse"), {"ResponseClass": "Error"}, nsmap={"m": M, "t": T})
    sub(resp, M, "MessageText", "Validation error occurred when executing inbox rules operations.")
    sub(resp, M, "ResponseCode", "ErrorInboxRulesValidationError")
    sub(resp, M, "DescriptiveLinkKey", "0")
    errs = sub(resp, M, "RuleOperationErrors")
    for index, _rid in missing:
        e = sub(errs, T, "RuleOperationError")
        sub(e, T, "OperationIndex", str(index))
        v = sub(sub(e, T, "ValidationErrors"), T, "Error")
        sub(v, T, "FieldURI", "RuleId")
        sub(v, T, "ErrorCode", "RuleNotFound")
        sub(v, T, "ErrorMessage", "The rule was not found.")
        sub(v, T, "FieldValue", _rid)
    return resp
