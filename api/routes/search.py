"""Search everywhere: chats, messages, assistants, library files, toolkits and jobs at once."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query

from api.deps import PrincipalDep, ServicesDep, SessionDep
from api.hal import Collection, Resource, Wire, api_router, collection_of, whole
from assistant import search_everywhere
from assistant.search_everywhere import ContentHit, Hit, HitType, Searcher
from core import fulltext
from core.errors import InvalidInput
from knowledge.errors import EmbeddingModelUnavailable, VectorStoreUnavailable
from knowledge.index import TenantScope
from knowledge.vector_store import VectorStore

router = api_router(prefix="/api/search", tags=["Search"])

TYPES: dict[str, HitType] = {
    "chats": "chat",
    "messages": "message",
    "assistants": "assistant",
    "files": "file",
    "toolkits": "toolkit",
    "jobs": "job",
}
MAX_LIMIT = 100


class InvalidSearchType(InvalidInput):
    """`types` names something search does not cover; use chats, messages, assistants, files,
    toolkits or jobs, comma-separated."""

    code = "invalid_search_type"


class SearchHitRead(Wire):
    """One thing found: what it is, its id, its title, why it matched and how well."""

    type: Literal["chat", "message", "assistant", "file", "toolkit", "job"]
    id: str
    title: str
    snippet: str
    snippet_text: str
    score: float
    chat_id: str | None = None
    link: str


def _types(text: str | None) -> set[HitType]:
    if not text:
        return set(TYPES.values())
    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = sorted(names - TYPES.keys())
    if unknown or not names:
        raise InvalidSearchType(unknown=unknown, allowed=list(TYPES))
    return {TYPES[name] for name in names}


def _link(hit: Hit) -> str:
    if hit.type == "message":
        return f"/api/chats/{hit.chat_id}/messages/{hit.id}"
    paths = {"chat": "chats", "assistant": "assistants", "file": "library/files"}
    paths |= {"toolkit": "toolkits", "job": "jobs"}
    return f"/api/{paths[hit.type]}/{hit.id}"


def _body(hit: Hit) -> Resource[SearchHitRead]:
    link = _link(hit)
    read = SearchHitRead(
        type=hit.type,
        id=hit.id,
        title=hit.title,
        snippet=hit.snippet.html,
        snippet_text=hit.snippet.text,
        score=round(hit.score, 6),
        chat_id=hit.chat_id,
        link=link,
    )
    links = {"self": {"href": link}}
    if hit.chat_id:
        links["chat"] = {"href": f"/api/chats/{hit.chat_id}"}
    return Resource(read.model_dump(mode="json", by_alias=True, exclude_none=True), _links=links)


def _content_search(store: VectorStore) -> search_everywhere.ContentSearch:
    async def passages(scope: TenantScope, query: str, limit: int) -> list[ContentHit]:
        try:
            hits = await store.keyword_search(scope, query, limit)
        except (VectorStoreUnavailable, EmbeddingModelUnavailable):
            return []  # no index in this process (several workers, no Qdrant server): names only
        return [
            ContentHit(file_id=h.file_id, file_name=h.file_name, text=h.text, score=h.score)
            for h in hits
        ]

    return passages


@router.get("", response_model=collection_of("results", SearchHitRead))
async def search_all(
    principal: PrincipalDep,
    session: SessionDep,
    services: ServicesDep,
    q: Annotated[str, Query(max_length=2000)],
    types: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
) -> Collection[Resource[SearchHitRead]]:
    """What you can see that holds the words of `q`, best first: your chats (titles) and their
    messages, assistants you may use, library files you may see (names, and text through the
    library's keyword index), toolkits and jobs you may see. `types` narrows it
    (comma-separated: chats, messages, assistants, files, toolkits, jobs). Every word must match;
    the last one also as the start of a word. Each hit has `type`, `id`, `title`, `link`,
    `score` (higher is better) and `snippet`: HTML-escaped text in which only the `<mark>`
    elements around the matched words are markup (`snippetText` is the same without marks).
    Equal scores come newest first. A word in more rows of a kind than are ranked (1,000 on
    SQLite, 200 on PostgreSQL) is ranked among the newest of them (on PostgreSQL your chats and
    messages in the chat list's order). 422 `invalid_search` for a blank `q` or one over 200
    characters."""
    terms = fulltext.parse(q)
    hits = await search_everywhere.search(
        session,
        searcher=Searcher(user=principal.user, team_ids=principal.team_ids),
        text=q,
        terms=terms,
        types=_types(types),
        limit=limit,
        content=_content_search(services.knowledge.store),
    )
    return whole("results", "/api/search", map(_body, hits))
