"""The `switchboard` command: db upgrade, users create, and the first start's advice."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from api.app import create_app
from tests.support import app_settings, make_catalog

SWITCHBOARD = str(Path(sys.executable).with_name("switchboard"))
ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SWITCHBOARD, *args],
        env={**os.environ, "SWITCHBOARD_DATA_DIR": str(data_dir), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_db_upgrade_creates_every_packages_tables(tmp_path: Path) -> None:
    result = _run(["db", "upgrade"], tmp_path)
    assert result.returncode == 0, result.stderr
    tables = {
        row[0]
        for row in sqlite3.connect(tmp_path / "switchboard.db").execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    assert {"core_user", "assistant_message", "billing_ledger_entry"} <= tables


def test_users_create_makes_an_admin_who_can_log_in(tmp_path: Path) -> None:
    result = _run(
        ["users", "create", "root", "--admin", "--password-env", "PW"],
        tmp_path,
        PW="long enough pw",
    )
    assert result.returncode == 0, result.stderr
    row = (
        sqlite3.connect(tmp_path / "switchboard.db")
        .execute("SELECT role, password_hash FROM core_user WHERE username = 'root'")
        .fetchone()
    )
    assert row[0] == "admin" and row[1].startswith("$argon2id$")
    teams = (
        sqlite3.connect(tmp_path / "switchboard.db")
        .execute(
            "SELECT t.name FROM core_team t JOIN core_team_membership m ON m.team_id = t.id"
            " JOIN core_user u ON u.id = m.user_id WHERE u.username = 'root'"
        )
        .fetchall()
    )
    assert teams == [("Everyone",)]
    again = _run(["users", "create", "root", "--password-env", "PW"], tmp_path, PW="long enough pw")
    assert again.returncode == 2 and "taken" in again.stderr


@pytest.mark.parametrize("password", ["short", "password1234"])
def test_users_create_refuses_a_weak_password_in_a_sentence(tmp_path: Path, password: str) -> None:
    result = _run(["users", "create", "bob", "--password-env", "PW"], tmp_path, PW=password)
    assert (
        result.returncode == 2 and "password" in result.stderr and "Traceback" not in result.stderr
    )


@pytest.mark.anyio
async def test_first_start_without_admin_settings_says_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from asgi_lifespan import LifespanManager

    settings = app_settings(tmp_path, admin_username="", admin_password="", log_level="INFO")
    app = create_app(settings, catalog=make_catalog("http://127.0.0.1:9/v1"))
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=60):
        pass
    assert "switchboard users create --admin" in capsys.readouterr().err


def test_doctor_reports_what_is_wrong_and_fails(tmp_path: Path) -> None:
    fresh = _run(["doctor"], tmp_path / "new", SWITCHBOARD_MODELS=str(ROOT / "models.yaml"))
    assert fresh.returncode == 1
    assert (
        "FAIL  database: no database" in fresh.stdout and "switchboard db upgrade" in fresh.stdout
    )
    assert _run(["db", "upgrade"], tmp_path / "new").returncode == 0
    down = _run(
        ["doctor"],
        tmp_path / "new",
        SWITCHBOARD_MODELS=str(ROOT / "models.yaml"),
        OLLAMA_API_BASE="http://127.0.0.1:9",
    )
    assert "ok    database: reachable, schema current" in down.stdout
    assert "FAIL  provider ollama_chat (llama3): cannot reach http://127.0.0.1:9" in down.stdout
    assert "OPENAI_API_KEY" in down.stdout and down.returncode == 1
