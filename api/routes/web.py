"""The web page: one HTML shell at `/`, scripts and styles under `/static`, Markdown rendering.

No build step: the page is plain ES modules served as files. Every text the page shows comes from
the API as data and is put in the page as text; Markdown becomes HTML only here, on the server,
through `api.markdown` (sanitised), never from raw model output in the browser."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import Field
from starlette.staticfiles import StaticFiles

from api import markdown
from api.deps import PrincipalDep
from core.schemas import Schema

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
router = APIRouter(tags=["Web page"])


class MarkdownRender(Schema):
    """Texts to render: up to 200 at once, each up to 200,000 characters."""

    texts: Annotated[list[Annotated[str, Field(max_length=200_000)]], Field(max_length=200)]


class MarkdownRendered(Schema):
    """Safe HTML for each text, in the same order."""

    html: list[str]


def static_files() -> StaticFiles:
    """The page's scripts, styles and icons (mounted at `/static`)."""
    return StaticFiles(directory=STATIC_DIR)


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The web page's shell; the page itself is built by /static/js/app.js."""
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.post("/api/markdown/_render")
async def render_markdown(body: MarkdownRender, _: PrincipalDep) -> MarkdownRendered:
    """Render Markdown texts as sanitised HTML (what the page shows for answers and messages).

    Raw HTML in the texts is shown as text; links keep only http, https and mailto addresses."""
    return MarkdownRendered(html=[markdown.render(text) for text in body.texts])
