"""tests/_shared.py: data missing from the shared folder skips a test locally and fails it under CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import _shared


def test_present_data_is_returned_as_paths_under_the_shared_folder(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.tar.gz").write_bytes(b"")
    monkeypatch.setattr(_shared, "SHARED", tmp_path)
    monkeypatch.setenv("CI", "true")
    assert _shared.require_shared("corpus/a.tar.gz", what="corpus") == [tmp_path / "corpus" / "a.tar.gz"]


def test_missing_data_skips_outside_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_shared, "SHARED", tmp_path)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"corpus not found: .*b\.tar\.gz"):
        _shared.require_shared("corpus/b.tar.gz", what="corpus")


def test_missing_data_fails_under_ci_naming_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_shared, "SHARED", tmp_path)
    monkeypatch.setenv("CI", "true")
    (tmp_path / "present").write_bytes(b"")
    with pytest.raises(pytest.fail.Exception, match=r"schema not found: \S*missing \(.*CI=true requires it") as info:
        _shared.require_shared("present", "missing", what="schema")
    assert "present," not in str(info.value)
