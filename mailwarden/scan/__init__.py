"""Historic scan: look back through the protected mailboxes for phishing and act on it.

* :mod:`~mailwarden.scan.policy` -- :class:`ScanPolicy` (action per verdict), the window, the scan's id;
* :mod:`~mailwarden.scan.plan` -- which mailboxes, the detection context, what is done already;
* :mod:`~mailwarden.scan.mailbox` -- scanning one mailbox (:class:`MailboxScan` is its result);
* :mod:`~mailwarden.scan.report` -- totals, the per-mailbox table, the summary, the run record;
* :mod:`~mailwarden.scan.ground_truth` -- labels to judge a scan by (inline, a file, the sandbox).

No Prefect here: the flow ``historic-scan`` (flows/historic_scan.py) builds on this.
"""

from mailwarden.scan.ground_truth import GroundTruthRef, GroundTruthRefused, GroundTruthUnreadable
from mailwarden.scan.mailbox import MailboxScan, record_failure, scan_mailbox
from mailwarden.scan.plan import ScanPlan, Targets, plan_scan
from mailwarden.scan.policy import (
    ALL_FOLDERS,
    CATEGORIES,
    SCAN_ACTOR,
    PolicyAction,
    ScanPolicy,
    folder_key,
    scan_id_for,
    scan_window,
)
from mailwarden.scan.report import ScanReport

__all__ = [
    "ALL_FOLDERS",
    "CATEGORIES",
    "SCAN_ACTOR",
    "GroundTruthRef",
    "GroundTruthRefused",
    "GroundTruthUnreadable",
    "MailboxScan",
    "PolicyAction",
    "ScanPlan",
    "ScanPolicy",
    "ScanReport",
    "Targets",
    "folder_key",
    "plan_scan",
    "record_failure",
    "scan_id_for",
    "scan_mailbox",
    "scan_window",
]
