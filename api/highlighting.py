"""Code blocks and tables of rendered Markdown: code highlighted by Pygments into classes.

A fenced block becomes

    <div class="code-block"><div class="code-head"><span class="code-lang">python</span></div>
    <pre><code class="language-python"><span class="k">def</span> …</code></pre></div>

The page's stylesheet (static/code.css) colours Pygments' short token classes for both themes,
and the page puts a Copy button into `code-head`. A language Pygments does not know, or none,
gives the text escaped and uncoloured; the language is never guessed (guessing lexes the text
with every lexer). Tables sit in a `<div class="table-scroll">` so a wide one scrolls inside
its message instead of widening the page. No inline styles: the page's CSP forbids them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from markdown_it.token import Token
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import LEXERS, get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

# Pygments' short class names ("k", "nf", "s2"...): the only classes a highlighted span carries.
TOKEN_CLASSES = frozenset(name for name in STANDARD_TYPES.values() if name)
BLOCK_CLASSES = {
    "div": frozenset({"code-block", "code-head", "table-scroll"}),
    "span": frozenset({"code-lang"}),
}
_LANGUAGE_CHARS = 40
_NOT_LANGUAGE = re.compile(r"[^\w+#.-]")


@lru_cache(maxsize=1)
def _formatter() -> HtmlFormatter[str]:
    return HtmlFormatter(nowrap=True)


@lru_cache(maxsize=1)
def _known_languages() -> frozenset[str]:
    # Pygments' own lexers only: looking up a name it lacks scans the installed plugins' entry
    # points (~50 ms), which a text naming many unknown languages would repeat.
    return frozenset(alias for _, _, aliases, _, _ in LEXERS.values() for alias in aliases)


@lru_cache(maxsize=256)
def _lexer(language: str) -> Lexer | None:
    if language not in _known_languages():
        return None
    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def code_block(code: str, language: str) -> str:
    """The HTML of a code block with its language label, highlighted when the language is known."""
    language = _NOT_LANGUAGE.sub("", language)[:_LANGUAGE_CHARS]
    lexer = _lexer(language.lower()) if language else None
    body = highlight(code, lexer, _formatter()) if lexer else html.escape(code, quote=False)
    label = html.escape(language)
    code_class = f' class="language-{label}"' if language else ""
    head = f'<span class="code-lang">{label}</span>' if language else ""
    return (
        f'<div class="code-block"><div class="code-head">{head}</div>'
        f"<pre><code{code_class}>{body}</code></pre></div>\n"
    )


def render_fence(renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    """markdown-it's `fence` rule (bound to its renderer): the block through `code_block`."""
    token = tokens[idx]
    info = html.unescape(token.info).strip()
    language = info.split(maxsplit=1)[0] if info else ""
    return code_block(token.content, language)


def render_table_open(
    renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    """markdown-it's `table_open` rule: the table inside a box that scrolls sideways."""
    return '<div class="table-scroll">' + str(renderer.renderToken(tokens, idx, options, env))


def render_table_close(
    renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any
) -> str:
    """markdown-it's `table_close` rule: closes the scrolling box."""
    return str(renderer.renderToken(tokens, idx, options, env)) + "</div>\n"


def allowed_class(tag: str, value: str) -> str | None:
    """The classes of `value` a sanitised element of `tag` may keep, None when none."""
    names = value.split()
    if tag == "code":
        kept = [name for name in names if name.startswith("language-")]
    elif tag == "span":
        kept = [n for n in names if n in TOKEN_CLASSES or n in BLOCK_CLASSES["span"]]
    else:
        kept = [name for name in names if name in BLOCK_CLASSES.get(tag, ())]
    return " ".join(kept) or None
