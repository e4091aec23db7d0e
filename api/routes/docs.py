"""The API's interactive documentation at `/docs`: Swagger UI, served from this server.

Swagger UI's script and styles come from the fastapi-offline package (no CDN), and it starts from
a script file of ours rather than FastAPI's inline one, so the page runs under the app's own CSP
(scripts from this origin only) with nothing relaxed. ReDoc is off: it injects inline styles and
starts blob workers, which that CSP refuses.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from core.errors import NotFound

router = APIRouter(tags=["Web page"])
ASSETS = Path(str(resources.files("fastapi_offline") / "static"))
# The package's files /docs uses, by the name they are served under.
SERVED = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Switchboard API</title>
<link rel="icon" href="/static/icon.svg">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/static/js/docs.js"></script>
</body>
</html>
"""


class DocsAssetNotFound(NotFound):
    """No such file of the API documentation page."""

    code = "docs_asset_not_found"


@router.get("/docs", include_in_schema=False)
async def docs_page() -> HTMLResponse:
    """Swagger UI over `/openapi.json`."""
    return HTMLResponse(PAGE, headers={"Cache-Control": "no-cache"})


@router.get("/docs/assets/{name}", include_in_schema=False, response_model=None)
async def docs_asset(name: str) -> FileResponse:
    """One of Swagger UI's files, as the installed package ships it."""
    if name not in SERVED:
        raise DocsAssetNotFound(asset=name)
    return FileResponse(
        ASSETS / name, media_type=SERVED[name], headers={"Cache-Control": "public, max-age=86400"}
    )
