"""Where a scan's ground truth comes from: an inline list or a file of the operator's folder; the rest is refused.

(What the rates mean and how labels parse is pinned in tests/detection/test_evaluation.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailwarden.hosts import is_loopback_url
from mailwarden.scan.ground_truth import GroundTruthRefused, GroundTruthUnreadable, load_ground_truth
from mailwarden.settings import get_settings


def test_load_ground_truth_reads_a_list_or_a_file_of_the_folder_and_refuses_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "truth.json").write_text(json.dumps([{"label": "phishing", "internet_message_id": "<a>"}]))
    monkeypatch.delenv("MAILWARDEN_SANDBOX_URL", raising=False)
    monkeypatch.setenv("MAILWARDEN_GROUND_TRUTH_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert load_ground_truth("truth.json", tenant_id="t")[0].internet_message_id == "<a>"
        assert load_ground_truth(str(tmp_path / "truth.json"), tenant_id="t")[0].label == "phishing"
        assert load_ground_truth([{"label": "spam", "id": "x"}], tenant_id="t")[0].label == "phishing"
        with pytest.raises(GroundTruthRefused, match="MAILWARDEN_SANDBOX_URL"):
            load_ground_truth("sandbox", tenant_id="t")
        with pytest.raises(GroundTruthUnreadable, match="could not read the ground truth file"):
            load_ground_truth("missing.json", tenant_id="t")
        for outside in ("https://example.com/x.json", "../truth.json", "/etc/passwd", ""):
            with pytest.raises(GroundTruthRefused, match="ground_truth must be"):
                load_ground_truth(outside, tenant_id="t")
        monkeypatch.delenv("MAILWARDEN_GROUND_TRUTH_DIR")
        get_settings.cache_clear()
        with pytest.raises(GroundTruthRefused, match="no ground-truth folder"):
            load_ground_truth("truth.json", tenant_id="t")
    finally:
        get_settings.cache_clear()
    assert is_loopback_url("https://127.0.0.1:9443") and is_loopback_url("https://localhost")
    assert not is_loopback_url("https://graph.microsoft.us") and not is_loopback_url(None)
