"""Policy as data: defaults, JSON round trip, overrides that change verdicts, and validation."""

from __future__ import annotations

import json

import pytest

from mailwarden.detection import Category, DetectionPolicy, classify, default_policy, dump_policy, load_policy
from mailwarden.detection.policy import DEFAULT_POLICY_PATH

from ._factory import msg


def test_default_policy_matches_the_shipped_json():
    shipped = json.loads(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    assert DetectionPolicy().to_dict() == DetectionPolicy.from_dict(shipped).to_dict()
    assert "iso" in default_policy().dangerous_extensions


def test_policy_round_trips_through_a_file(tmp_path):
    p = DetectionPolicy.from_dict({"thresholds": {"suspicious": 3.0}, "url_shorteners": ["sho.rt"]})
    path = tmp_path / "policy.json"
    dump_policy(p, path)
    again = load_policy(path)
    assert again.to_dict() == p.to_dict()
    assert again.thresholds["suspicious"] == 3.0 and again.thresholds["malicious"] == 9.0


def test_policy_weights_change_the_verdict():
    m = msg(reply_to="x@gmail.com")
    assert classify(m).category == Category.CLEAN
    strict = DetectionPolicy.from_dict({"weights": {"reply_to_freemail": 5.0}})
    assert classify(m, None, strict).category == Category.SUSPICIOUS


def test_policy_lists_change_the_signals():
    m = msg(body="see https://sho.rt/x")
    assert "url_shortener" not in {r.code for r in classify(m).reasons}
    custom = DetectionPolicy.from_dict({"url_shorteners": ["sho.rt"]})
    assert "url_shortener" in {r.code for r in classify(m, None, custom).reasons}


@pytest.mark.parametrize(
    "bad",
    [
        {"nonsense": 1},
        {"thresholds": {"malicious": 1.0, "suspicious": 5.0}},
        {"url_shorteners": "bit.ly"},
        {"weights": {"ip_url": "high"}},
        {"harvest_phrases": ["(unclosed"]},
        [],
    ],
)
def test_invalid_policies_are_rejected(bad):
    with pytest.raises(ValueError):
        DetectionPolicy.from_dict(bad)
