"""Structured logs: JSON lines carrying the request id, with secrets redacted from every record.

Redaction happens on the way out, in a filter on the handler (and on uvicorn's own loggers): each
record's message (arguments merged), its extra fields and its exception text lose anything that
looks like a credential (a Bearer value, a Switchboard token, an `sk-` key, `password=...`, a
session cookie) and every value registered with `keep_secret` (the settings' secrets, provider
keys of the model catalog).
"""

from __future__ import annotations

import logging
import os
import re
import traceback
from collections.abc import Iterable, Mapping

from pydantic import SecretStr
from pythonjsonlogger.json import JsonFormatter

from api.middleware import request_id
from core.catalog import ENV_PREFIX, Catalog
from core.settings import Settings

MASK = "[redacted]"
_PATTERNS = (
    re.compile(r"(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(r"\bsb_[A-Za-z0-9_-]{10,}"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"),
    re.compile(
        r"(?i)((?:password|passwd|secret|api[_-]?key|token|authorization|cookie|"
        r"switchboard_session|switchboard_csrf|csrf[_-]?token)[\"']?\s*[:=]\s*[\"']?)"
        r"(?!(?:bearer|basic)\s|\[redacted\])([^\s\"',;&}]{4,})"
    ),
)
_CREDENTIAL_KEY = re.compile(r"(?i)key|secret|token|password|credential")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}
_known: set[str] = set()


def keep_secret(values: Iterable[str]) -> None:
    """Never let these values (at least 6 characters long) appear in a log line."""
    _known.update(v for v in values if v and len(v) >= 6)


def secrets_of(settings: Settings, catalog: Catalog) -> list[str]:
    """The secret settings (OpenID providers' client secrets too) and the catalog's provider
    credentials (environment references resolved), to pass to `keep_secret`."""
    values = [
        value.get_secret_value()
        for name in type(settings).model_fields
        if isinstance(value := getattr(settings, name), SecretStr)
    ]
    values += [provider.client_secret.get_secret_value() for provider in settings.oidc_providers]
    for model in catalog.models.values():
        for deployment in model.deployments:
            for key, value in deployment.litellm_params.items():
                if not isinstance(value, str):
                    continue
                if value.startswith(ENV_PREFIX):
                    values.append(os.environ.get(value.removeprefix(ENV_PREFIX), ""))
                elif _CREDENTIAL_KEY.search(key):
                    values.append(value)
    return values


def redact(text: str) -> str:
    """The text with credential-looking values and registered secrets masked.

    The patterns go first: a registered value that happens to sit inside a keyword (a secret
    "switchboard" in `switchboard_session=...`) would otherwise break the keyword the pattern
    needs, and the value after it would show."""
    for pattern in _PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        else:
            text = pattern.sub(MASK, text)
    for value in sorted(_known, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


class RedactSecrets(logging.Filter):
    """Masks secrets in a record's message, arguments, extra fields and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_message(record)
        for key, value in list(vars(record).items()):
            if key in _STANDARD or value is None or isinstance(value, int | float | bool):
                continue
            text = value if isinstance(value, str) else repr(value)
            if redact(text) != text:
                setattr(record, key, redact(text))
        if record.exc_info:
            exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            record.exc_text, record.exc_info = redact(exc_text), None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _redact_message(record: logging.LogRecord) -> None:
    """Redact the template and each argument apart, keeping the arguments' types (formatters
    such as uvicorn's access log unpack them); when a secret only shows once they are merged,
    or the pieces no longer format, keep the merged message, redacted, instead."""
    original = record.msg, record.args
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_redacted(a) for a in record.args)
    elif isinstance(record.args, Mapping):
        record.args = {k: _redacted(v) for k, v in record.args.items()}
    try:
        merged = record.getMessage()
        if redact(merged) == merged:
            return
    except Exception:
        pass
    record.msg, record.args = original
    try:
        merged = record.getMessage()
    except Exception:  # a bad format string: keep what there is
        merged = f"{record.msg} {record.args}"
    record.msg, record.args = redact(merged), None


def _redacted(value: object) -> object:
    """An argument with secrets masked: as it was when it holds none."""
    if value is None or isinstance(value, int | float | bool):
        return value
    text = value if isinstance(value, str) else str(value)
    masked = redact(text)
    return value if masked == text else masked


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def configure(level: str, as_json: bool) -> None:
    """Send logs to stderr, as JSON lines or plain text, with the request id on each."""
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
    handler.addFilter(RedactSecrets())
    if as_json:
        handler.setFormatter(
            JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s")
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for own_handlers in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # they do not propagate
        named = logging.getLogger(own_handlers)
        if not any(isinstance(f, RedactSecrets) for f in named.filters):
            named.addFilter(RedactSecrets())
