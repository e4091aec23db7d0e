"""The embedded vector index: Qdrant Edge (Qdrant's engine in-process) in a folder of the data dir.

Opened on first use; one process at a time (Edge locks its write-ahead log). The model the
collection was built with is recorded in `<folder>.json` beside the shard.
"""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from qdrant_edge import (
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeShard,
    EdgeSparseVectorParams,
    EdgeVectorParams,
    FieldCondition,
    Filter,
    IsEmptyCondition,
    MatchAny,
    MatchValue,
    Modifier,
    PayloadSchemaType,
    Point,
    Query,
    QueryBatchRequest,
    QueryRequest,
    Record,
    ScrollRequest,
    SearchParams,
    UpdateOperation,
)
from qdrant_edge import SparseVector as EdgeSparseVector

from knowledge.errors import IndexModelMismatch, VectorStoreUnavailable
from knowledge.fusion import DEFAULT_FUSION, Candidate, FusionOptions, fetched, fuse, settled
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


def _optimize(shard: EdgeShard) -> None:
    shard.optimize()


def _marked(field: str) -> FieldCondition:
    return FieldCondition(key=field, match=MatchValue(1))


def hidden() -> list[Filter]:
    """Chunks search never sees: those a re-index before versions left staged and not swapped
    in, or swapped away (`knowledge.index`)."""
    staged, swapped = _marked(STAGED), _marked(SWAPPED)
    return [Filter(must=[staged], must_not=[swapped]), Filter(must=[swapped], must_not=[staged])]


def _file(file_id: str) -> FieldCondition:
    return FieldCondition(key="file_id", match=MatchValue(file_id))


def _version(version: str) -> FieldCondition | IsEmptyCondition:
    """Chunks of this version ("": stored before versions, no `file_version`)."""
    if version:
        return FieldCondition(key=FILE_VERSION, match=MatchValue(version))
    return IsEmptyCondition(FILE_VERSION)


def _other_versions(file_id: str, keep: str | None) -> FieldCondition | Filter:
    """A file's chunks of every version but `keep` (None: all of them)."""
    if keep is None:
        return _file(file_id)
    return Filter(must=[_file(file_id)], must_not=[_version(keep)])


def tenant_filter(
    scope: TenantScope,
    file_ids: Sequence[str] | None = None,
    folder_ids: Sequence[str] | None = None,
    versions: Versions | None = None,
) -> Filter:
    """The filter of every search: the scope's searchable chunks, optionally within files or
    folders, and of the files in `versions` only the version given."""
    visible = [FieldCondition(key="owner_user_id", match=MatchValue(scope.user_id))]
    if scope.team_ids:
        visible.append(FieldCondition(key="team_id", match=MatchAny(list(scope.team_ids))))
    must: list[FieldCondition | Filter] = [Filter(should=list(visible))]
    if file_ids is not None:
        must.append(FieldCondition(key="file_id", match=MatchAny(list(file_ids))))
    if folder_ids is not None:
        must.append(FieldCondition(key="folder_id", match=MatchAny(list(folder_ids))))
    excluded = [_other_versions(file_id, keep) for file_id, keep in (versions or {}).items()]
    return Filter(must=list(must), must_not=[*hidden(), *excluded])


def owner_condition(owner: Owner) -> FieldCondition:
    """Chunks of exactly this owner: one user's own files, or one team's."""
    if owner.team_id:
        return FieldCondition(key="team_id", match=MatchValue(owner.team_id))
    return FieldCondition(key="owner_user_id", match=MatchValue(owner.user_id or ""))


class EdgeIndex:
    """A `VectorIndex` on Qdrant Edge."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._meta = folder.with_name(folder.name + ".json")
        self._lock = threading.RLock()
        self._shard: EdgeShard | None = None
        self._spec: CollectionSpec | None = None
        self._optimizer: ThreadPoolExecutor | None = None

    def _open(self) -> EdgeShard:
        with self._lock:
            if self._shard is None:
                if not self._folder.is_dir():
                    raise VectorStoreUnavailable("The vector index has not been created yet.")
                try:
                    shard = EdgeShard.load(str(self._folder))
                except Exception as exc:  # Edge reports a locked folder as a plain error
                    raise VectorStoreUnavailable(
                        f"The embedded vector store cannot be opened ({exc}); only one process "
                        "may use it, set SWITCHBOARD_QDRANT_URL to share a Qdrant server."
                    ) from exc
                # Searches filter on the marks: unindexed, a search costs 3x the CPU.
                self._index_fields(shard)
                self._shard = shard
            return self._shard

    def _recorded(self) -> dict[str, object] | None:
        if not self._meta.is_file() or not self._folder.is_dir():
            return None
        data: dict[str, object] = json.loads(self._meta.read_text(encoding="utf-8"))
        return data

    def ensure_collection(self, spec: CollectionSpec) -> CollectionState:
        with self._lock:
            recorded = self._recorded()
            if recorded is None:
                self._create(spec)
                return CollectionState.CREATED
            state = state_of(recorded, spec)
            if state is CollectionState.READY:
                if recorded_before_digests(recorded, spec):
                    self._meta.write_text(json.dumps(spec_metadata(spec)), encoding="utf-8")
                self._spec = spec
                self._open()  # opening indexes the fields an older version's index lacks
            return state

    def reset_collection(self, spec: CollectionSpec) -> None:
        with self._lock:
            self._create(spec)

    def _create(self, spec: CollectionSpec) -> None:
        self.close()
        shutil.rmtree(self._folder, ignore_errors=True)
        self._folder.parent.mkdir(parents=True, exist_ok=True)
        config = EdgeConfig(
            vectors={DENSE: EdgeVectorParams(size=spec.dimension, distance=Distance.Cosine)},
            sparse_vectors={SPARSE: EdgeSparseVectorParams(modifier=Modifier.Idf)},
        )
        try:
            shard = EdgeShard.create(str(self._folder), config)
        except Exception as exc:
            raise VectorStoreUnavailable(f"The vector index cannot be created: {exc}") from exc
        self._index_fields(shard)
        self._meta.write_text(json.dumps(spec_metadata(spec)), encoding="utf-8")
        self._shard, self._spec = shard, spec

    @staticmethod
    def _index_fields(shard: EdgeShard) -> None:
        """Index the filtered fields, those a collection made by an older version lacks too."""
        indexed = shard.info().payload_schema
        for field in KEYWORD_FIELDS:
            if field not in indexed:
                shard.update(UpdateOperation.create_field_index(field, PayloadSchemaType.Keyword))
        for field in MARK_FIELDS:
            if field not in indexed:
                shard.update(UpdateOperation.create_field_index(field, PayloadSchemaType.Integer))

    def _checked_spec(self) -> CollectionSpec:
        if self._spec is None:
            recorded = self._recorded()
            if recorded is None:
                raise VectorStoreUnavailable("The vector index has not been created yet.")
            self._spec = CollectionSpec(str(recorded["model_id"]), int(str(recorded["dimension"])))
        return self._spec

    def upsert(self, chunks: Sequence[IndexedChunk]) -> None:
        if not chunks:
            return
        spec = self._checked_spec()
        points = []
        for item in chunks:
            if len(item.dense) != spec.dimension:
                raise IndexModelMismatch(
                    f"Vectors of size {len(item.dense)} do not fit an index of size "
                    f"{spec.dimension} built with {spec.model_id}."
                )
            vector: dict[str, list[float] | EdgeSparseVector | list[list[float]]] = {
                DENSE: [float(value) for value in item.dense],
                SPARSE: EdgeSparseVector(item.sparse.indices, item.sparse.values),
            }
            identifier = point_id(item.file_id, item.chunk.index, item.version)
            points.append(Point(identifier, vector, payload(item)))
        self._open().update(UpdateOperation.upsert_points(points))

    def settle_file(self, file_id: str, keep: str | None) -> None:
        where = Filter(must=[_other_versions(file_id, keep)])
        self._open().update(UpdateOperation.delete_points_by_filter(where))

    def delete_version(self, file_id: str, version: str) -> None:
        where = Filter(must=[_file(file_id), _version(version)])
        self._open().update(UpdateOperation.delete_points_by_filter(where))

    def delete_file(self, file_id: str) -> None:
        self._open().update(UpdateOperation.delete_points_by_filter(Filter(must=[_file(file_id)])))

    def stored_vectors(self, owner: Owner, keys: Sequence[str]) -> dict[str, Sequence[float]]:
        shard = self._open()

        def scroll(missing: list[str]) -> list[Record]:
            wanted = FieldCondition(key="embedding_key", match=MatchAny(missing))
            request = ScrollRequest(
                filter=Filter(must=[owner_condition(owner), wanted]),
                limit=len(missing),
                with_payload=["embedding_key"],
                with_vector=[DENSE],
            )
            return shard.scroll(request)[0]

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
        params = SearchParams(exact=exact)
        dense_query = Query.Nearest([float(value) for value in dense], using=DENSE)
        sparse_query = Query.Nearest(EdgeSparseVector(sparse.indices, sparse.values), using=SPARSE)
        if mode == "dense" or (mode == "hybrid" and not sparse.indices):
            return self._hits(self._query([dense_query], where, params, limit)[0])
        if mode == "sparse":
            return self._hits(self._query([sparse_query], where, params, limit)[0])
        queries, weights = [dense_query, sparse_query], [fusion.dense_weight, fusion.sparse_weight]
        if identifiers is not None and identifiers.indices:
            exact_terms = EdgeSparseVector(identifiers.indices, identifiers.values)
            queries.append(Query.Nearest(exact_terms, using=SPARSE))
            weights.append(fusion.identifier_weight)
        lists = self._query(queries, where, params, fusion.depth_for(limit))
        if fusion.file_weight:
            lists = self._with_files(lists)
        fused = fuse(lists, weights, limit=limit, k=fusion.k, file_weight=fusion.file_weight)
        return self._hits(fused)

    def _with_files(self, lists: list[list[Candidate]]) -> list[list[Candidate]]:
        """The candidates with their file ids, read for all of them in one call (the file
        field alone: fusion weighs each file's evidence, `knowledge.fusion`)."""
        ids: list[int | uuid.UUID | str] = list(
            {item.point_id for items in lists for item in items}
        )
        records = self._open().retrieve(ids, with_payload=["file_id"], with_vector=False)
        files = {
            str(record.id): str((record.payload or {}).get("file_id", "")) for record in records
        }
        return [
            [Candidate(item.point_id, item.score, files.get(item.point_id, "")) for item in items]
            for items in lists
        ]

    def _query(
        self, queries: list[Query], where: Filter, params: SearchParams, limit: int
    ) -> list[list[Candidate]]:
        """Each query's candidates in a fixed order, the queries run as one batch, payloads
        left out (fusion reads deep lists and keeps a few)."""
        asked = fetched(limit)
        requests = [
            QueryRequest(limit=asked, query=query, filter=where, params=params, with_payload=False)
            for query in queries
        ]
        results = self._open().query_batch(QueryBatchRequest(requests))
        return [
            settled([Candidate(str(point.id), point.score) for point in points], asked, limit)
            for points in results
        ]

    def _hits(self, chosen: Sequence[Candidate | tuple[Candidate, float]]) -> list[SearchHit]:
        """The chosen candidates as hits, their payloads read in one call, in the same order
        (one deleted meanwhile is left out)."""
        scored = [item if isinstance(item, tuple) else (item, item.score) for item in chosen]
        if not scored:
            return []
        ids: list[int | uuid.UUID | str] = [item.point_id for item, _ in scored]
        records = self._open().retrieve(ids, with_payload=True, with_vector=False)
        payloads = {str(record.id): record.payload or {} for record in records}
        return [
            hit(item.point_id, score, payloads[item.point_id])
            for item, score in scored
            if item.point_id in payloads
        ]

    def file_chunks(
        self, file_id: str, *, version: str | None, limit: int = 1000, offset: int = 0
    ) -> list[SearchHit]:
        if version is None:
            return []
        where = Filter(must=[_file(file_id), _version(version)], must_not=list(hidden()))
        records, cursor = self._open().scroll(
            ScrollRequest(filter=where, limit=256, with_payload=True)
        )
        found = [hit(record.id, 0.0, record.payload or {}) for record in records]
        while cursor is not None:
            request = ScrollRequest(offset=cursor, filter=where, limit=256, with_payload=True)
            records, cursor = self._open().scroll(request)
            found.extend(hit(record.id, 0.0, record.payload or {}) for record in records)
        found.sort(key=lambda item: item.chunk_index)
        return found[offset : offset + limit]

    def count(self, *, file_id: str | None = None) -> int:
        where = None
        if file_id is not None:
            where = Filter(must=[_file(file_id)])
        return int(self._open().count(CountRequest(exact=True, filter=where)))

    def optimize_in_background(self) -> Future[None]:
        with self._lock:
            if self._optimizer is None:
                self._optimizer = ThreadPoolExecutor(1, thread_name_prefix="qdrant-edge-optimize")
            shard = self._open()
        return self._optimizer.submit(_optimize, shard)

    def close(self) -> None:
        with self._lock:
            if self._optimizer is not None:
                self._optimizer.shutdown(wait=True)
                self._optimizer = None
            if self._shard is not None:
                self._shard.flush()
                self._shard.close()
                self._shard = None
