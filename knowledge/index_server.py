"""The vector index on a Qdrant server through qdrant-client (its local mode in the tests).

The collection's model is recorded in Qdrant's collection metadata. The server optimises its
segments by itself, so `optimize_in_background` has nothing to do.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from typing import Any

import httpx
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from knowledge.errors import IndexModelMismatch, VectorStoreUnavailable
from knowledge.fusion import DEFAULT_FUSION, FusionOptions, fetched, fuse, settled
from knowledge.index import (
    DENSE,
    FILE_VERSION,
    KEYWORD_FIELDS,
    MARK_FIELDS,
    SPARSE,
    STAGED,
    SWAPPED,
    CollectionSpec,
    CollectionState,
    IndexedChunk,
    Owner,
    SearchHit,
    SearchMode,
    TenantScope,
    Versions,
    hit,
    payload,
    point_id,
    recorded_before_digests,
    spec_metadata,
    state_of,
    vectors_by_key,
)
from knowledge.sparse import SparseVector

_UPSERT_BATCH = 256


def _marked(field: str) -> models.FieldCondition:
    return models.FieldCondition(key=field, match=models.MatchValue(value=1))


def hidden() -> list[models.Condition]:
    """Chunks search never sees: those a re-index before versions left staged and not swapped
    in, or swapped away (`knowledge.index`)."""
    staged, swapped = _marked(STAGED), _marked(SWAPPED)
    return [
        models.Filter(must=[staged], must_not=[swapped]),
        models.Filter(must=[swapped], must_not=[staged]),
    ]


def tenant_filter(
    scope: TenantScope,
    file_ids: Sequence[str] | None = None,
    folder_ids: Sequence[str] | None = None,
    versions: Versions | None = None,
) -> models.Filter:
    """The filter of every search: the scope's searchable chunks, optionally within files or
    folders, and of the files in `versions` only the version given."""
    visible: list[models.Condition] = [
        models.FieldCondition(key="owner_user_id", match=models.MatchValue(value=scope.user_id))
    ]
    if scope.team_ids:
        visible.append(
            models.FieldCondition(key="team_id", match=models.MatchAny(any=list(scope.team_ids)))
        )
    must: list[models.Condition] = [models.Filter(should=visible)]
    if file_ids is not None:
        must.append(models.FieldCondition(key="file_id", match=models.MatchAny(any=list(file_ids))))
    if folder_ids is not None:
        must.append(
            models.FieldCondition(key="folder_id", match=models.MatchAny(any=list(folder_ids)))
        )
    excluded = [_other_versions(file_id, keep) for file_id, keep in (versions or {}).items()]
    return models.Filter(must=must, must_not=[*hidden(), *excluded])


def _file(file_id: str) -> models.FieldCondition:
    return models.FieldCondition(key="file_id", match=models.MatchValue(value=file_id))


def _version(version: str) -> models.Condition:
    """Chunks of this version ("": stored before versions, no `file_version`)."""
    if version:
        return models.FieldCondition(key=FILE_VERSION, match=models.MatchValue(value=version))
    return models.IsEmptyCondition(is_empty=models.PayloadField(key=FILE_VERSION))


def _other_versions(file_id: str, keep: str | None) -> models.Condition:
    """A file's chunks of every version but `keep` (None: all of them)."""
    if keep is None:
        return _file(file_id)
    return models.Filter(must=[_file(file_id)], must_not=[_version(keep)])


def _file_filter(file_id: str) -> models.Filter:
    return models.Filter(must=[_file(file_id)])


def owner_condition(owner: Owner) -> models.FieldCondition:
    """Chunks of exactly this owner: one user's own files, or one team's."""
    if owner.team_id:
        return models.FieldCondition(key="team_id", match=models.MatchValue(value=owner.team_id))
    user = owner.user_id or ""
    return models.FieldCondition(key="owner_user_id", match=models.MatchValue(value=user))


class ServerIndex:
    """A `VectorIndex` on a Qdrant server; `location=":memory:"` or `path=` for local mode."""

    def __init__(
        self,
        *,
        url: str = "",
        api_key: str = "",
        path: str = "",
        location: str = "",
        collection: str = "switchboard_chunks",
    ) -> None:
        self._options: dict[str, Any] = {"url": url or None, "api_key": api_key or None}
        if path:
            self._options = {"path": path}
        elif location:
            self._options = {"location": location}
        self._collection = collection
        self._lock = threading.Lock()
        self._client: QdrantClient | None = None
        self._spec: CollectionSpec | None = None

    def _connect(self) -> QdrantClient:
        with self._lock:
            if self._client is None:
                with _unavailable_on_error():
                    self._client = QdrantClient(**self._options)
            return self._client

    def ensure_collection(self, spec: CollectionSpec) -> CollectionState:
        client = self._connect()
        with _unavailable_on_error():
            if not client.collection_exists(self._collection):
                self._create(client, spec)
                return CollectionState.CREATED
            recorded = client.get_collection(self._collection).config.metadata
        state = state_of(recorded, spec)
        if state is CollectionState.READY:
            with _unavailable_on_error():
                if recorded_before_digests(recorded, spec):
                    client.update_collection(self._collection, metadata=spec_metadata(spec))
                self._index_fields(client)  # those a collection made by an older version lacks
            self._spec = spec
        return state

    def reset_collection(self, spec: CollectionSpec) -> None:
        client = self._connect()
        with _unavailable_on_error():
            client.delete_collection(self._collection)
            self._create(client, spec)

    def _create(self, client: QdrantClient, spec: CollectionSpec) -> None:
        client.create_collection(
            self._collection,
            vectors_config={
                DENSE: models.VectorParams(size=spec.dimension, distance=models.Distance.COSINE)
            },
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            metadata=spec_metadata(spec),
        )
        self._index_fields(client)
        self._spec = spec

    def _index_fields(self, client: QdrantClient) -> None:
        """Index the filtered fields, those a collection made by an older version lacks too."""
        indexed = client.get_collection(self._collection).payload_schema
        kinds = {field: models.PayloadSchemaType.KEYWORD for field in KEYWORD_FIELDS}
        kinds |= {field: models.PayloadSchemaType.INTEGER for field in MARK_FIELDS}
        with warnings.catch_warnings():
            # Local mode (tests) warns that it has no payload indexes; a server builds them.
            warnings.filterwarnings("ignore", "Payload indexes have no effect", UserWarning)
            for field, kind in kinds.items():
                if field not in indexed:
                    client.create_payload_index(self._collection, field, kind)

    def _checked_spec(self) -> CollectionSpec:
        if self._spec is None:
            with _unavailable_on_error():
                recorded = self._connect().get_collection(self._collection).config.metadata or {}
            self._spec = CollectionSpec(str(recorded["model_id"]), int(recorded["dimension"]))
        return self._spec

    def upsert(self, chunks: Sequence[IndexedChunk]) -> None:
        spec = self._checked_spec()
        points = []
        for item in chunks:
            if len(item.dense) != spec.dimension:
                raise IndexModelMismatch(
                    f"Vectors of size {len(item.dense)} do not fit an index of size "
                    f"{spec.dimension} built with {spec.model_id}."
                )
            vector: dict[str, Any] = {
                DENSE: [float(value) for value in item.dense],
                SPARSE: models.SparseVector(indices=item.sparse.indices, values=item.sparse.values),
            }
            identifier = point_id(item.file_id, item.chunk.index, item.version)
            points.append(models.PointStruct(id=identifier, vector=vector, payload=payload(item)))
        client = self._connect()
        with _unavailable_on_error():
            for start in range(0, len(points), _UPSERT_BATCH):
                batch = points[start : start + _UPSERT_BATCH]
                client.upsert(self._collection, points=batch, wait=True)

    def settle_file(self, file_id: str, keep: str | None) -> None:
        others = models.FilterSelector(filter=models.Filter(must=[_other_versions(file_id, keep)]))
        with _unavailable_on_error():
            self._connect().delete(self._collection, points_selector=others, wait=True)

    def delete_version(self, file_id: str, version: str) -> None:
        one = models.FilterSelector(filter=models.Filter(must=[_file(file_id), _version(version)]))
        with _unavailable_on_error():
            self._connect().delete(self._collection, points_selector=one, wait=True)

    def delete_file(self, file_id: str) -> None:
        selector = models.FilterSelector(filter=_file_filter(file_id))
        with _unavailable_on_error():
            self._connect().delete(self._collection, points_selector=selector, wait=True)

    def stored_vectors(self, owner: Owner, keys: Sequence[str]) -> dict[str, Sequence[float]]:
        client = self._connect()

        def scroll(missing: list[str]) -> list[models.Record]:
            wanted = models.FieldCondition(key="embedding_key", match=models.MatchAny(any=missing))
            with _unavailable_on_error():
                records, _ = client.scroll(
                    self._collection,
                    scroll_filter=models.Filter(must=[owner_condition(owner), wanted]),
                    limit=len(missing),
                    with_payload=["embedding_key"],
                    with_vectors=[DENSE],
                )
            return records

        return vectors_by_key(keys, scroll)

    def search(
        self,
        scope: TenantScope,
        dense: Sequence[float],
        sparse: SparseVector,
        *,
        identifiers: SparseVector | None = None,
        limit: int = 10,
        file_ids: Sequence[str] | None = None,
        folder_ids: Sequence[str] | None = None,
        mode: SearchMode = "hybrid",
        exact: bool = False,
        fusion: FusionOptions = DEFAULT_FUSION,
        versions: Versions | None = None,
    ) -> list[SearchHit]:
        where = tenant_filter(scope, file_ids, folder_ids, versions)
        params = models.SearchParams(exact=exact)
        dense_query = models.QueryRequest(
            query=[float(value) for value in dense], using=DENSE, params=params
        )
        sparse_query = models.QueryRequest(
            query=models.SparseVector(indices=sparse.indices, values=sparse.values), using=SPARSE
        )
        if mode == "dense" or (mode == "hybrid" and not sparse.indices):
            return self._query([dense_query], where, limit)[0]
        if mode == "sparse":
            return self._query([sparse_query], where, limit)[0]
        queries, weights = [dense_query, sparse_query], [fusion.dense_weight, fusion.sparse_weight]
        if identifiers is not None and identifiers.indices:
            terms = models.SparseVector(indices=identifiers.indices, values=identifiers.values)
            queries.append(models.QueryRequest(query=terms, using=SPARSE))
            weights.append(fusion.identifier_weight)
        lists = self._query(queries, where, fusion.depth_for(limit))
        fused = fuse(lists, weights, limit=limit, k=fusion.k, file_weight=fusion.file_weight)
        return [dataclasses.replace(item, score=score) for item, score in fused]

    def _query(
        self, queries: list[models.QueryRequest], where: models.Filter, limit: int
    ) -> list[list[SearchHit]]:
        """Each query's hits in a fixed order, the queries sent as one batch."""
        asked = fetched(limit)
        requests = [
            query.model_copy(update={"filter": where, "limit": asked, "with_payload": True})
            for query in queries
        ]
        with _unavailable_on_error():
            responses = self._connect().query_batch_points(self._collection, requests=requests)
        return [
            settled(
                [hit(point.id, point.score, point.payload or {}) for point in response.points],
                asked,
                limit,
            )
            for response in responses
        ]

    def file_chunks(
        self, file_id: str, *, version: str | None, limit: int = 1000, offset: int = 0
    ) -> list[SearchHit]:
        if version is None:
            return []
        where = models.Filter(must=[_file(file_id), _version(version)], must_not=hidden())
        found: list[SearchHit] = []
        cursor: Any = None
        with _unavailable_on_error():
            while True:
                records, cursor = self._connect().scroll(
                    self._collection,
                    scroll_filter=where,
                    limit=256,
                    offset=cursor,
                    with_payload=True,
                )
                found.extend(hit(record.id, 0.0, record.payload or {}) for record in records)
                if cursor is None:
                    break
        found.sort(key=lambda item: item.chunk_index)
        return found[offset : offset + limit]

    def count(self, *, file_id: str | None = None) -> int:
        where = _file_filter(file_id) if file_id is not None else None
        with _unavailable_on_error():
            result = self._connect().count(self._collection, count_filter=where, exact=True)
        return int(result.count)

    def optimize_in_background(self) -> Future[None]:
        done: Future[None] = Future()
        done.set_result(None)  # a server optimises by itself
        return done

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


@contextlib.contextmanager
def _unavailable_on_error() -> Iterator[None]:
    """Turn connection and server failures into `VectorStoreUnavailable`."""
    try:
        yield
    except (ResponseHandlingException, UnexpectedResponse, httpx.HTTPError, OSError) as exc:
        raise VectorStoreUnavailable(
            f"The Qdrant server (SWITCHBOARD_QDRANT_URL) is not available: {exc}"
        ) from exc
    except RuntimeError as exc:  # local mode reports a folder locked by another process so
        raise VectorStoreUnavailable(f"The vector store cannot be opened: {exc}") from exc
