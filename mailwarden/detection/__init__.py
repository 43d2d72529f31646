"""Detection engine: message verdicts and inbox-rule risk, each with operator-readable reasons.

Pure Python (no Prefect, no HTTP). Rules are data: see :class:`DetectionPolicy` and
``default_policy.json``.
"""

from .engine import classify
from .model import Category, DetectionContext, IndicatorSet, Reason, Verdict
from .policy import DetectionPolicy, default_policy, dump_policy, load_policy
from .rules import (
    Campaign,
    RiskLevel,
    RuleContext,
    RuleRisk,
    external_targets,
    find_forwarding_campaigns,
    score_exchange_rule,
    score_forwarding,
    score_graph_rule,
    score_rule,
)

__all__ = [
    "Campaign",
    "Category",
    "DetectionContext",
    "DetectionPolicy",
    "IndicatorSet",
    "Reason",
    "RiskLevel",
    "RuleContext",
    "RuleRisk",
    "Verdict",
    "classify",
    "default_policy",
    "dump_policy",
    "external_targets",
    "find_forwarding_campaigns",
    "load_policy",
    "score_exchange_rule",
    "score_forwarding",
    "score_graph_rule",
    "score_rule",
]
