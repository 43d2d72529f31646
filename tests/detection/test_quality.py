"""Slow: the quality targets on the shared real-mail dev corpus (skipped when it is absent)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("MAILWARDEN_CORPUS", REPO / ".." / "shared" / "corpus"))
PHISH = CORPUS / "phishing_pot-dev.tar.gz"
HAM = CORPUS / "spamassassin-ham-dev.tar.gz"


@pytest.mark.slow
@pytest.mark.skipif(not (PHISH.exists() and HAM.exists()), reason="shared corpus not found")
def test_dev_corpus_meets_the_quality_targets():
    spec = importlib.util.spec_from_file_location(
        "detection_quality", REPO / "bench" / "detection_quality.py"
    )
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rates = bench.evaluate(PHISH, HAM)["rates"]["all"]
    assert rates["phishing_not_clean"] >= 0.85
    assert rates["legitimate_threat"] <= 0.02
