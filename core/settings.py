"""The one typed Settings object, read from `SWITCHBOARD_*` environment variables."""

from __future__ import annotations

import ipaddress
import json
import re
import typing
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from core.errors import InvalidSettings
from core.oidc_providers import OidcProvider, unique_names

MIN_STORED_BYTES_GRACE_SECONDS = 3600.0


class Settings(BaseSettings):
    """Everything an operator can set, each as `SWITCHBOARD_<NAME>`."""

    model_config = SettingsConfigDict(
        env_prefix="SWITCHBOARD_",
        env_file=None,
        extra="ignore",
        validate_default=True,
        # List settings are read by `_lists` below (a comma list or a JSON list), not JSON only.
        enable_decoding=False,
    )

    data_dir: Path = Path("data")
    database_url: str = ""
    models: Path = Path("models.yaml")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)

    admin_username: str = ""
    admin_password: SecretStr = SecretStr("")

    session_ttl_hours: int = Field(default=24 * 7, ge=1)
    cookie_secure: bool = False
    # Logins (core.login_throttle): attempts per account or known browser and per client address
    # before each further one makes the next wait 1, 2, 4 ... seconds, up to the longest delay.
    login_free_attempts: int = Field(default=5, ge=1)
    login_free_attempts_per_address: int = Field(default=20, ge=1)
    login_max_delay_seconds: int = Field(default=300, ge=1, le=86400)
    # Two-factor sign-in (core.two_factor): who must use an authenticator app.
    two_factor_required: Literal["off", "admins", "everyone"] = "off"
    # The audit log (core.audit): events older than this are deleted.
    audit_retention_days: int = Field(default=365, ge=1, le=36500)
    # OpenID Connect sign-in (core.oidc): the providers (a JSON list); with password_login off,
    # only the bootstrap admin and the break-glass users may sign in with a password.
    oidc_providers: list[OidcProvider] = Field(default_factory=list)
    password_login: bool = True
    break_glass_users: list[str] = Field(default_factory=list)
    # Request bodies are cut off with 413 as they stream in past these (uploads: their own limits).
    max_json_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_v1_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    log_level: str = "INFO"
    log_json: bool = True
    # OpenTelemetry tracing (the `otel` extra): an OTLP/HTTP endpoint, and/or "console".
    otel_endpoint: str = ""
    otel: Literal["", "console"] = ""
    otel_service: str = "switchboard"

    # Chat streaming
    checkpoint_seconds: float = Field(default=1.0, gt=0, le=2.0)
    heartbeat_seconds: float = Field(default=15.0, gt=0)
    stream_buffer_ttl_seconds: float = Field(default=300.0, ge=0)
    default_max_tokens: int = Field(default=1024, ge=1)
    fast_path: bool = True
    # When to import LiteLLM and build its router in a background thread (~185 MB), so the first
    # answer does not wait seconds for them: at the first signed-in request (a person opening the
    # page; the default: an unused server stays small), right after start-up, or never (the first
    # model call pays). `true`/`false` mean `start`/`off`.
    warm_start: Literal["sign-in", "start", "off"] = "sign-in"
    # /v1/embeddings: inputs, and tokens in all, one request may carry (OpenAI's own caps).
    embedding_max_inputs: int = Field(default=2048, ge=1, le=100_000)
    embedding_max_tokens: int = Field(default=300_000, ge=1)
    # After a chat's first answer, one short metered model call gives it a title.
    auto_titles: bool = True
    # At SIGTERM, answers being written get this long to finish before they are interrupted.
    shutdown_grace_seconds: float = Field(default=30.0, ge=0, le=3600)

    # Billing: default per-minute rate limits (none when unset; overridable per team or user)
    rate_limit_user_rpm: int | None = Field(default=None, ge=1)
    rate_limit_user_tpm: int | None = Field(default=None, ge=1)
    rate_limit_token_rpm: int | None = Field(default=None, ge=1)
    rate_limit_token_tpm: int | None = Field(default=None, ge=1)
    alert_webhook_url: str = ""
    # Webhooks (budget alerts above, job results): signed with this secret, retried with backoff.
    job_webhook_url: str = ""
    webhook_secret: SecretStr = SecretStr("")
    webhook_max_attempts: int = Field(default=8, ge=1, le=100)
    webhook_retry_seconds: float = Field(default=30.0, gt=0)
    webhook_poll_seconds: float = Field(default=5.0, gt=0)
    # Hosts (`host` or `host:port`) admins' webhooks may reach although loopback or private.
    webhook_allowed_hosts: list[str] = Field(default_factory=list)

    # Vectors and embeddings (knowledge)
    qdrant_url: str = ""
    qdrant_api_key: SecretStr = SecretStr("")
    embedding_model: str = ""
    # `hash` is a deterministic stand-in for tests that do not exercise knowledge; `litellm`
    # embeds with the models.yaml entry named by embedding_model, metered by billing.
    embedding_backend: Literal["onnx", "torch", "hash", "litellm"] = "onnx"
    embedding_cache_dir: Path | None = None
    # The local model runs in a worker process that stops after this long without a call (its
    # memory goes back to the system; the next search or upload starts it again, ~1-3 s).
    embedding_idle_seconds: float = Field(default=600.0, ge=5.0)
    # Library uploads and parsing limits; library-sync reads server folders under this root only.
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    max_files_per_upload: int = Field(default=20, ge=1, le=1000)
    max_pages: int = Field(default=2_000, ge=1)
    max_decompressed_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    # What one user's chat attachments and library uploads may take together (bytes; 0: no limit;
    # an admin may set a user's own: PUT /api/users/{id}/storage).
    max_storage_bytes_per_user: int = Field(default=1024 * 1024 * 1024, ge=0)
    # Stored bytes no file holds go once nobody put them for the grace period (an upload or a
    # library sync in flight puts its bytes before its rows commit), looked for this often.
    stored_bytes_grace_seconds: float = 24 * 3600.0
    stored_bytes_sweep_seconds: float = Field(default=3600.0, ge=60.0, le=7 * 24 * 3600.0)
    max_parse_seconds: float = Field(default=60.0, gt=0)
    # Worker processes reading library files (more: several large files read at once, ~70 MB each).
    parse_workers: int = Field(default=1, ge=1, le=32)
    # Markdown rendering off the event loop: worker processes, and seconds one request may take.
    markdown_workers: int = Field(default=2, ge=1, le=32)
    markdown_seconds: float = Field(default=10.0, gt=0)
    library_sync_root: Path | None = None
    job_poll_seconds: float = Field(default=15.0, gt=0)
    # E-mail that jobs send (email and assistant-prompt actions), through this SMTP server.
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_from: str = ""
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=600)

    # The URL clients reach Switchboard at (absolute URLs it hands out); unset, the address it
    # listens on. Reverse proxies (IPs or CIDR networks) whose X-Forwarded-* headers are believed.
    public_url: str = ""
    trusted_proxies: list[str] = Field(default_factory=list)
    # Toolkits and the MCP endpoint
    toolkit_secret_key: SecretStr = SecretStr("")
    toolkit_allowed_hosts: list[str] = Field(default_factory=list)
    # Hosts (`host` or `host:port`) providers may reach although link-local or cloud metadata.
    provider_allowed_hosts: list[str] = Field(default_factory=list)
    tool_call_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    tool_result_max_chars: int = Field(default=20_000, ge=100)
    tool_max_calls_per_turn: int = Field(default=16, ge=1)
    tool_max_steps: int = Field(default=8, ge=1, le=50)
    tool_approval_seconds: float = Field(default=300.0, gt=0)
    # Web search (the built-in toolkit builtin-web-search): a SearXNG instance's base URL (unset,
    # the toolkit is not offered), results a search gives by default, and seconds it may take.
    web_search_url: str = ""
    web_search_results: int = Field(default=5, ge=1, le=20)
    web_search_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # External toolkits: tool lists re-read in the background; command-line servers kept running
    toolkit_refresh_seconds: float = Field(default=3600.0, gt=0)
    toolkit_stdio_max_sessions: int = Field(default=8, ge=1, le=256)
    toolkit_stdio_idle_seconds: float = Field(default=300.0, gt=0)
    mcp_allowed_origins: list[str] = Field(default_factory=list)
    # MCP clients' OAuth (core.mcp_oauth): hosts whose redirect URIs register without an admin's
    # approval (loopback always does), and how long access and refresh tokens live.
    mcp_oauth_allowed_redirect_hosts: list[str] = Field(default_factory=list)
    mcp_oauth_access_token_seconds: int = Field(default=3600, ge=60, le=86400)
    mcp_oauth_refresh_token_days: int = Field(default=30, ge=1, le=365)

    # Assistant secrets: a base64 32-byte AES key; unset, a keyring file in data_dir is made.
    secrets_key: SecretStr = SecretStr("")

    # Providers and models admins add at run time: credentials sealed under this base64 32-byte
    # AES key (unset, a key file in data_dir is made); each worker polls for changes this often.
    provider_secret_key: SecretStr = SecretStr("")
    catalog_poll_seconds: float = Field(default=2.0, gt=0, le=300)

    @field_validator("*", mode="before")
    @classmethod
    def _lists(cls, value: object, info: ValidationInfo) -> object:
        """A list setting given as text: a JSON list (`["a","b"]`) or a comma list (`a,b`)."""
        field = cls.model_fields.get(info.field_name or "")
        if not isinstance(value, str) or field is None or not _is_collection(field.annotation):
            return value
        text = value.strip()
        if text.startswith(("[", "{")):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"is not valid JSON ({exc.msg}); or give a comma list") from None
        return [item.strip() for item in text.split(",") if item.strip()]

    @field_validator("warm_start", mode="before")
    @classmethod
    def _warm_start(cls, value: object) -> object:
        """`true`/`false`, as this setting once was, mean `start`/`off`."""
        if isinstance(value, bool):
            return "start" if value else "off"
        if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0"}:
            return "start" if value.strip().lower() in {"true", "1"} else "off"
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
        return value

    @field_validator("oidc_providers")
    @classmethod
    def _unique_providers(cls, value: list[OidcProvider]) -> list[OidcProvider]:
        return unique_names(value)

    @field_validator("stored_bytes_grace_seconds")
    @classmethod
    def _safe_grace(cls, value: float) -> float:
        if value < MIN_STORED_BYTES_GRACE_SECONDS:
            raise ValueError(
                f"must be at least {MIN_STORED_BYTES_GRACE_SECONDS:.0f} (an hour): the sweep "
                "removes bytes no file holds once nobody put them for this long, and an upload "
                "or library sync still running has put its files' bytes before their rows commit"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return level

    @property
    def resolved_database_url(self) -> str:
        """The database URL with the async driver the project uses."""
        from core.database import async_url

        if self.database_url:
            return async_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'switchboard.db').resolve()}"


def load_settings(**overrides: object) -> Settings:
    """Build the settings, turning a validation error into one sentence naming the setting.

    Raises:
        InvalidSettings: a setting has a value that cannot be used.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except SettingsError as exc:  # a value a settings source could not even read
        found = re.search(r'field "(\w+)"', str(exc))
        name = "SWITCHBOARD_" + found.group(1).upper() if found else "a SWITCHBOARD_ variable"
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise InvalidSettings(f"Invalid setting {name}: cannot be read{cause}") from None
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "SWITCHBOARD_" + "_".join(str(part) for part in error["loc"]).upper()
            message = error["msg"].removeprefix("Value error, ")  # our validators' own sentences
            problems.append(f"{name}: {message}{_shown(error['loc'], error.get('input'))}")
        raise InvalidSettings("Invalid setting " + "; ".join(problems)) from None


def _shown(loc: tuple[int | str, ...], value: object) -> str:
    """The bad value for the message, unless it is or may hold a secret (a provider list)."""
    if any("secret" in str(part).lower() for part in loc) or loc == ("oidc_providers",):
        return ""
    if loc[:1] == ("oidc_providers",) and not isinstance(value, str | int | float | bool):
        return ""  # a whole provider entry, its client secret included
    return f" (got {value!r})"


def _is_collection(annotation: object) -> bool:
    """Whether a field holds a list, set, tuple or dict (optionally `| None`)."""
    origins = {list, set, frozenset, tuple, dict}
    if typing.get_origin(annotation) in origins or annotation in origins:
        return True
    return any(_is_collection(arg) for arg in typing.get_args(annotation) if arg is not type(None))
