"""Where the demo finds real mail: the corpus dev sets beside the repository, or none."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployments.embedded import CORPUS_SETS, corpus_dir, real_mail_sources


def test_real_mail_sources_needs_both_sets(tmp_path: Path) -> None:
    assert real_mail_sources(tmp_path) is None
    (tmp_path / CORPUS_SETS["phishing"]).write_bytes(b"")
    assert real_mail_sources(tmp_path) is None  # half a corpus is no corpus
    (tmp_path / CORPUS_SETS["legitimate"]).write_bytes(b"")
    assert real_mail_sources(tmp_path) == [(str(tmp_path / CORPUS_SETS["phishing"]), "phishing"),
                                           (str(tmp_path / CORPUS_SETS["legitimate"]), "legitimate")]


def test_corpus_dir_defaults_beside_the_repository_and_follows_the_shared_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILWARDEN_SHARED_DIR", raising=False)
    repo = Path(__file__).resolve().parents[2]
    assert corpus_dir() == repo.parent / "shared" / "corpus"
    monkeypatch.setenv("MAILWARDEN_SHARED_DIR", str(tmp_path))
    assert corpus_dir() == tmp_path / "corpus"
