"""The app factory and start-up: what a fresh server holds in memory before its first request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Imported only where files are parsed (the parsing workers), never by the server's start-up:
# together ~25 MB resident that an idle server would hold (bench/README.md, First answer).
PARSERS = ("openpyxl", "pypdf", "docx", "bs4", "lxml")
START = """
import asyncio, json, sys
from api.app import create_app
from core.settings import Settings

app = create_app(Settings(data_dir=sys.argv[1], warm_start=False))

async def start() -> None:
    async with app.router.lifespan_context(app):
        print(json.dumps(sorted(sys.modules)))

asyncio.run(start())
"""


def test_start_up_imports_no_document_parser_or_vector_store(tmp_path: Path) -> None:
    # A fresh interpreter: this test process has imported the parsers through other tests.
    env = {**os.environ, "SWITCHBOARD_LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "-c", START, str(tmp_path / "data")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert "api.routes.library" in modules  # the routes that take uploads are there
    assert [m for m in modules if m.split(".")[0] in PARSERS] == []
    assert "qdrant_edge" not in modules  # the embedded vector store loads on first use
