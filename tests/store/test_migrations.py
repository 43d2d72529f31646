"""The packaged Alembic migrations match the models and run from code and from the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from mailwarden.store import Store, alembic_config
from mailwarden.store.models import Base

REPO = Path(__file__).resolve().parents[2]
INI = REPO / "mailwarden" / "store" / "alembic.ini"


def test_migrated_schema_matches_the_models_exactly(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_migrate_works_from_any_working_directory(empty_store: Store, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    empty_store.migrate()
    assert "remediation_actions" in inspect(empty_store.engine).get_table_names()


def test_downgrade_to_base_removes_every_table(store: Store) -> None:
    with store.engine.begin() as conn:
        command.downgrade(alembic_config(connection=conn), "base")
    assert set(inspect(store.engine).get_table_names()) <= {"alembic_version"}


def test_alembic_cli_upgrades_an_empty_database_from_env_url(
    empty_store: Store, store_url: str, tmp_path
) -> None:
    env = {**os.environ, "MAILWARDEN_STORE_URL": store_url, "MAILWARDEN_DATA_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(INI), "upgrade", "head"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert set(Base.metadata.tables) <= set(inspect(empty_store.engine).get_table_names())
    with empty_store.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0002"
