"""Settings: read from SWITCHBOARD_* variables; a bad one stops start-up naming it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.errors import InvalidSettings
from core.settings import load_settings


def test_settings_come_from_prefixed_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_PORT", "9100")
    monkeypatch.setenv("SWITCHBOARD_DATABASE_URL", "postgresql://u@h:5432/db")
    settings = load_settings()
    assert settings.port == 9100
    assert settings.resolved_database_url == "postgresql+asyncpg://u@h:5432/db"


def test_bad_setting_raises_a_sentence_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_PORT", "seventy")
    with pytest.raises(InvalidSettings, match="SWITCHBOARD_PORT"):
        load_settings()


def test_cli_stops_with_the_bad_settings_name_and_no_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "db", "upgrade"],
        env={"SWITCHBOARD_LOG_LEVEL": "LOUD", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "SWITCHBOARD_LOG_LEVEL" in result.stderr and "Traceback" not in result.stderr
