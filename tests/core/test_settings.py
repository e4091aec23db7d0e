"""Settings: read from SWITCHBOARD_* variables; a bad one stops start-up naming it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import InvalidSettings
from core.settings import Settings, load_settings


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


def test_the_stored_bytes_sweep_is_set_by_environment_with_a_safe_grace_period(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = load_settings()
    assert (defaults.stored_bytes_grace_seconds, defaults.stored_bytes_sweep_seconds) == (
        86400,
        3600,
    )
    monkeypatch.setenv("SWITCHBOARD_STORED_BYTES_GRACE_SECONDS", "7200")
    monkeypatch.setenv("SWITCHBOARD_STORED_BYTES_SWEEP_SECONDS", "600")
    chosen = load_settings()
    assert (chosen.stored_bytes_grace_seconds, chosen.stored_bytes_sweep_seconds) == (7200, 600)
    monkeypatch.setenv("SWITCHBOARD_STORED_BYTES_GRACE_SECONDS", "600")
    with pytest.raises(InvalidSettings) as short:
        load_settings()
    assert "SWITCHBOARD_STORED_BYTES_GRACE_SECONDS: must be at least 3600 (an hour)" in str(
        short.value
    )
    assert "library sync still running" in str(short.value)
    monkeypatch.setenv("SWITCHBOARD_STORED_BYTES_GRACE_SECONDS", "3600")
    monkeypatch.setenv("SWITCHBOARD_STORED_BYTES_SWEEP_SECONDS", "5")
    with pytest.raises(InvalidSettings, match="SWITCHBOARD_STORED_BYTES_SWEEP_SECONDS"):
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


LIST_SETTINGS = [
    name
    for name, field in Settings.model_fields.items()
    if field.annotation == list[str]  # lists of names; oidc_providers holds objects
]


def test_every_list_setting_is_found() -> None:
    assert {"toolkit_allowed_hosts", "mcp_allowed_origins", "provider_allowed_hosts"} <= set(
        LIST_SETTINGS
    )


@pytest.mark.parametrize("name", LIST_SETTINGS)
@pytest.mark.parametrize(
    "value", ["10.0.0.1,10.9.0.0/16", " 10.0.0.1 , 10.9.0.0/16 ,", '["10.0.0.1", "10.9.0.0/16"]']
)
def test_list_settings_accept_a_comma_list_or_a_json_list(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    # Addresses and networks: a value every list setting accepts (hosts, origins, proxies).
    monkeypatch.setenv(f"SWITCHBOARD_{name.upper()}", value)
    assert getattr(load_settings(), name) == ["10.0.0.1", "10.9.0.0/16"]


def test_an_empty_list_setting_is_an_empty_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_TOOLKIT_ALLOWED_HOSTS", "")
    assert load_settings().toolkit_allowed_hosts == []


def test_a_broken_json_list_setting_is_a_sentence_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWITCHBOARD_MCP_ALLOWED_ORIGINS", '["https://a.example"')
    with pytest.raises(InvalidSettings, match=r"SWITCHBOARD_MCP_ALLOWED_ORIGINS: .*not valid JSON"):
        load_settings()


def serve(**env: str) -> subprocess.CompletedProcess[str]:
    """`switchboard serve` with only these variables set."""
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "serve"],
        env={"PATH": "", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_serve_names_a_bad_list_setting_in_one_sentence_without_a_traceback() -> None:
    result = serve(SWITCHBOARD_TOOLKIT_ALLOWED_HOSTS='["a.example"')
    assert result.returncode == 2
    assert result.stderr.startswith(
        "switchboard: Invalid setting SWITCHBOARD_TOOLKIT_ALLOWED_HOSTS"
    )
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_serve_reads_a_comma_list_setting() -> None:
    # A bad log level stops serve once the settings are read: only it is named, not the list.
    result = serve(
        SWITCHBOARD_TOOLKIT_ALLOWED_HOSTS="a.example,b.example", SWITCHBOARD_LOG_LEVEL="LOUD"
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "SWITCHBOARD_LOG_LEVEL" in result.stderr and "ALLOWED_HOSTS" not in result.stderr


def documented_settings() -> set[str]:
    """The variables docs/configuration.md's tables name, shorthands (`A_B_RPM` / `_TPM`) expanded
    by swapping or appending the last parts of the row's first full name."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    found: set[str] = set()
    for row in (line for line in text.splitlines() if line.startswith("| `")):
        cell = row.split("|")[1]
        names = re.findall(r"`(SWITCHBOARD_[A-Z0-9_]+|_[A-Z0-9_]+)`", cell)
        full = [n for n in names if n.startswith("SWITCHBOARD_")]
        found.update(full)
        if not full:
            continue
        parts = full[0].split("_")
        for short in (n for n in names if not n.startswith("SWITCHBOARD_")):
            found.update("_".join(parts[: len(parts) - k]) + short for k in range(len(parts) - 1))
    return found


def test_every_setting_is_documented_in_configuration_md() -> None:
    missing = sorted(
        f"SWITCHBOARD_{name.upper()}"
        for name in Settings.model_fields
        if f"SWITCHBOARD_{name.upper()}" not in documented_settings()
    )
    assert not missing, "document these in docs/configuration.md: " + ", ".join(missing)
