"""Markdown to safe HTML for the web page: markdown-it-py renders, nh3 sanitises.

Raw HTML in the source is escaped by the renderer, and whatever the renderer produces is cleaned
again with an allow-list, so model or user text can never put markup of its own in the page.
Code blocks come highlighted with classes (api/highlighting.py) and table cells carry their
column's alignment as a class (`align-right`): the page's CSP allows no style attributes.

Rendering is pure Python and holds the GIL (a 200,000-character table takes about a second), so
`render_all` renders short texts at once, sends longer ones to a bounded pool of worker processes
with a deadline, and keeps what it rendered in a bounded cache keyed by the text's digest: a
shared chat opened again, or a page shown again, is not rendered twice.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

from api.highlighting import allowed_class, render_fence, render_table_close, render_table_open
from core.errors import RenderingTooCostly
from core.settings import Settings
from core.worker_pool import WorkerPool

_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td", "span",
    "div",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},
    "ol": {"start"},
    "div": {"class"},
    "span": {"class"},
    "th": {"class"},
    "td": {"class"},
}
_ALIGNMENTS = {f"text-align:{side}": f"align-{side}" for side in ("left", "center", "right")}
_URL_SCHEMES = {"http", "https", "mailto"}
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Texts adding up to this many characters render on the event loop (a few milliseconds).
INLINE_CHARS = 2_000
_CACHE_CHARS = 16 * 1024 * 1024


@dataclass(frozen=True)
class RenderLimits:
    """How Markdown rendering may use the machine: worker processes and seconds per request."""

    workers: int = 2
    seconds: float = 10.0


def limits_of(settings: Settings) -> RenderLimits:
    """The rendering limits the settings give."""
    return RenderLimits(workers=settings.markdown_workers, seconds=settings.markdown_seconds)


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("fence", render_fence)
    md.add_render_rule("table_open", render_table_open)
    md.add_render_rule("table_close", render_table_close)
    return md


def _aligned_by_class(tokens: list[Token]) -> list[Token]:
    """Table cells' `style="text-align:…"` (which the CSP would block) as an `align-…` class."""
    for token in tokens:
        if token.type not in ("th_open", "td_open"):
            continue
        name = _ALIGNMENTS.get(str(token.attrs.pop("style", "")))
        if name is not None:
            token.attrs["class"] = name
    return tokens


def render(text: str) -> str:
    """Safe HTML for a Markdown text: no scripts, no event handlers, links only to web addresses.

    Blocking and CPU-bound: on the request path use `render_all`."""
    md = _renderer()
    tokens = _aligned_by_class(md.parse(_LONE_SURROGATE.sub("\ufffd", text)))
    html = md.renderer.render(tokens, md.options, {})
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        attribute_filter=_only_known_classes,
    )


def render_many(texts: Sequence[str]) -> list[str]:
    """`render` of each text (the task a worker process runs)."""
    return [render(text) for text in texts]


def _only_known_classes(tag: str, attribute: str, value: str) -> str | None:
    if attribute != "class":
        return value
    if tag in ("th", "td"):
        return value if value in _ALIGNMENTS.values() else None
    return allowed_class(tag, value)


class _RenderedCache:
    """Rendered HTML by the digest of its Markdown, least recently used dropped past a size."""

    def __init__(self, max_chars: int) -> None:
        self._max_chars = max_chars
        self._chars = 0
        self._items: OrderedDict[bytes, str] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()

    def get(self, key: bytes) -> str | None:
        with self._lock:
            html = self._items.get(key)
            if html is not None:
                self._items.move_to_end(key)
            return html

    def put(self, key: bytes, html: str) -> None:
        if len(html) > self._max_chars // 4:
            return
        with self._lock:
            previous = self._items.pop(key, None)
            self._chars += len(html) - len(previous or "")
            self._items[key] = html
            while self._chars > self._max_chars:
                _, dropped = self._items.popitem(last=False)
                self._chars -= len(dropped)


_cache = _RenderedCache(_CACHE_CHARS)
_pool = WorkerPool(RenderLimits().workers)


async def render_all(texts: Sequence[str], limits: RenderLimits) -> list[str]:
    """Safe HTML for each text, in order, without holding the event loop for long.

    Raises:
        RenderingTooCostly: the texts could not be rendered within `limits.seconds`.
    """
    keys = [_cache.key(text) for text in texts]
    done = {key: html for key in set(keys) if (html := _cache.get(key)) is not None}
    pending = {key: text for key, text in zip(keys, texts, strict=True) if key not in done}
    if sum(len(text) for text in pending.values()) <= INLINE_CHARS:
        rendered = render_many(list(pending.values()))
    else:
        _pool.configure(limits.workers, ())
        try:
            rendered = await _pool.run(limits.seconds, render_many, list(pending.values()))
        except (TimeoutError, BrokenProcessPool):
            raise RenderingTooCostly() from None
    for key, html in zip(pending, rendered, strict=True):
        _cache.put(key, html)
        done[key] = html
    return [done[key] for key in keys]


def shutdown_rendering_workers() -> None:
    """Stop the rendering processes (at application shutdown)."""
    _pool.shutdown()
