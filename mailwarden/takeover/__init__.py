"""Inbox-rule watch and account-takeover response (core, no Prefect).

- :mod:`~mailwarden.takeover.inventory`: gather Graph + Exchange rules and mailbox forwarding;
- :mod:`~mailwarden.takeover.assess`: score them and compare with the stored snapshots;
- :mod:`~mailwarden.takeover.playbook`: the idempotent, audited response steps;
- :mod:`~mailwarden.takeover.password`: strong random reset passwords.
"""

from mailwarden.takeover.assess import (
    FORWARDING_KEY,
    RuleFinding,
    assess_mailbox,
    at_or_above,
    campaigns,
    is_alert,
    parse_level,
    record_findings,
)
from mailwarden.takeover.inventory import (
    MailboxRules,
    exchange_rule_identity,
    forwarding_by_mailbox,
    gather_mailbox_rules,
    mailbox_ids,
)
from mailwarden.takeover.password import generate_password
from mailwarden.takeover.playbook import (
    ADVANCED_STEPS,
    DEFAULT_AUTO,
    NEEDS_ADVANCED,
    STEPS,
    Playbook,
    StepResult,
    validate_evidence,
    validate_steps,
)

__all__ = [
    "ADVANCED_STEPS", "DEFAULT_AUTO", "FORWARDING_KEY", "NEEDS_ADVANCED", "STEPS", "MailboxRules", "Playbook",
    "RuleFinding", "StepResult", "assess_mailbox", "at_or_above", "campaigns", "exchange_rule_identity",
    "forwarding_by_mailbox", "gather_mailbox_rules", "generate_password", "is_alert", "mailbox_ids",
    "parse_level", "record_findings", "validate_evidence", "validate_steps",
]
