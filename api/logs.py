"""Structured logs: JSON lines carrying the request id."""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

from api.middleware import request_id


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def configure(level: str, as_json: bool) -> None:
    """Send logs to stderr, as JSON lines or plain text, with the request id on each."""
    handler = logging.StreamHandler()
    handler.addFilter(_RequestIdFilter())
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
