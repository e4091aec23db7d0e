"""Searching the library: passages with scores and citations."""

from __future__ import annotations

from api.deps import PrincipalDep, ServicesDep, SessionDep
from api.hal import Collection, Resource, api_router, collection_of, whole
from api.routes.library import scope_of
from knowledge import library
from knowledge.retrieval import Passage
from knowledge.schemas import CitationRead, PassageRead, SearchRequest

router = api_router(prefix="/api/knowledge", tags=["Knowledge"])


def passage_body(passage: Passage) -> Resource[PassageRead]:
    """A passage with its citation."""
    citation = passage.citation
    read = PassageRead(
        text=passage.text,
        score=passage.score,
        chunk_index=passage.chunk_index,
        citation=CitationRead(
            file_id=citation.file_id,
            file_name=citation.file_name,
            page=citation.page,
            section=list(citation.section),
            snippet=citation.snippet,
            start=citation.start,
            end=citation.end,
        ),
    )
    links = {"file": {"href": f"/api/library/files/{citation.file_id}"}}
    return Resource(read.model_dump(mode="json", by_alias=True), _links=links)


@router.post("/search", response_model=collection_of("passages", PassageRead))
async def search(
    body: SearchRequest, principal: PrincipalDep, session: SessionDep, services: ServicesDep
) -> Collection[Resource[PassageRead]]:
    """The passages of the files you may see that best answer `query` (dense and lexical search
    fused), best first, optionally only within `fileIds` or `folderIds` (404 for ids you may
    not see). Each carries a citation: file, page, section, snippet and character offsets."""
    scope = scope_of(principal)
    await library.visible_ids(
        session, scope=scope, file_ids=body.file_ids or (), folder_ids=body.folder_ids or ()
    )
    passages = await services.knowledge.store.search(
        scope,
        body.query,
        limit=body.limit,
        file_ids=body.file_ids,
        folder_ids=body.folder_ids,
    )
    return whole("passages", "/api/knowledge/search", (passage_body(p) for p in passages))
