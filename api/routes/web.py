"""The web page: one HTML shell at `/`, scripts and styles under `/static`, Markdown rendering.

No build step: the page is plain ES modules served as files. Every text the page shows comes from
the API as data and is put in the page as text; Markdown becomes HTML only here, on the server,
through `api.markdown` (sanitised), never from raw model output in the browser."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi.responses import FileResponse
from pydantic import Field, field_validator
from starlette.staticfiles import StaticFiles

from api import markdown
from api.deps import PrincipalDep, ServicesDep
from api.hal import api_router
from core.schemas import Schema

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
router = api_router(tags=["Web page"])


MAX_TEXT_CHARS = 200_000
MAX_TOTAL_CHARS = 500_000


class MarkdownRender(Schema):
    """Texts to render: up to 200 at once, each up to 200,000 characters, 500,000 in all."""

    texts: Annotated[list[Annotated[str, Field(max_length=MAX_TEXT_CHARS)]], Field(max_length=200)]

    @field_validator("texts")
    @classmethod
    def _bounded_in_all(cls, texts: list[str]) -> list[str]:
        total = sum(len(text) for text in texts)
        if total > MAX_TOTAL_CHARS:
            raise ValueError(f"the texts hold {total:,} characters; at most {MAX_TOTAL_CHARS:,}")
        return texts


class MarkdownRendered(Schema):
    """Safe HTML for each text, in the same order."""

    html: list[str]


def static_files() -> StaticFiles:
    """The page's scripts, styles and icons (mounted at `/static`)."""
    return StaticFiles(directory=STATIC_DIR)


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The web page's shell; the page itself is built by /static/js/main.js and its modules."""
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.post("/api/markdown/_render")
async def render_markdown(
    body: MarkdownRender, _: PrincipalDep, services: ServicesDep
) -> MarkdownRendered:
    """Render Markdown texts as sanitised HTML (what the page shows for answers and messages).

    Raw HTML in the texts is shown as text; links keep only http, https and mailto addresses.
    Texts whose rendering takes longer than the server allows are refused with 413
    `rendering_too_costly`."""
    limits = markdown.limits_of(services.settings)
    return MarkdownRendered(html=await markdown.render_all(body.texts, limits))
