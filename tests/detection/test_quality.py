"""Slow: the quality targets on the shared real-mail dev corpus (skipped when it is absent, failed under CI)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests._shared import require_shared

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_dev_corpus_meets_the_quality_targets():
    phish, ham = require_shared("corpus/phishing_pot-dev.tar.gz", "corpus/spamassassin-ham-dev.tar.gz",
                                what="real-mail dev corpus")
    spec = importlib.util.spec_from_file_location(
        "detection_quality", REPO / "bench" / "detection_quality.py"
    )
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rates = bench.evaluate(phish, ham)["rates"]["all"]
    assert rates["phishing_not_clean"] >= 0.85
    assert rates["legitimate_threat"] <= 0.02
