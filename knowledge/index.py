"""The vector index: one small interface over Qdrant Edge (embedded) and a Qdrant server.

Every search takes a `TenantScope` (the user and the teams they belong to) as a required argument
and the backends put it into every query's filter, so a query without a tenant filter cannot be
written. A collection records the embedding model and vector size it was built with;
`ensure_collection` reports a change of model so the caller reindexes instead of mixing vectors.

Each indexing of a file writes its chunks under a version of its own (`file_version` in the
payload, ids of that version, so no chunk of another version is overwritten). Which version of a
file is live is not the index's to say: the library records it on the file's row and flips it in
one database write once a version is whole (`knowledge.indexing`). A search reads chunks of every
version and the caller keeps those of each file's live version (`knowledge.retrieval`), asking
again with `versions` to leave out the others when it dropped some; `file_chunks` reads one
version. `settle_file` deletes the versions that are not live (before a run writes: what
unfinished runs left), `delete_version` the one a run replaced (after its version went live, when
another run may be writing a newer one that must stay). Chunks stored before versions were
recorded on rows have no `file_version` (their version is ""); those a re-index of that time
left hidden (`staged` set and not `swapped`, or `swapped` alone) stay out of every search.

The backends live in `knowledge.index_edge` and `knowledge.index_server` (the only modules that
import qdrant) and import this module, never the reverse; `knowledge.vector_store` picks one.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import uuid
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, Literal, Protocol

from knowledge.chunking import Chunk
from knowledge.errors import VectorStoreUnavailable
from knowledge.fusion import DEFAULT_FUSION, FusionOptions
from knowledge.sparse import SparseVector

DENSE = "dense"
SPARSE = "sparse"
COLLECTION = "switchboard_chunks"
FILE_VERSION = "file_version"
KEYWORD_FIELDS = (
    "owner_user_id",
    "team_id",
    "file_id",
    "folder_id",
    "embedding_key",
    FILE_VERSION,
)
# The marks of a re-index before versions were recorded on rows, integers 1 when set (Qdrant
# Edge matches no booleans): `STAGED` on the chunks it wrote, `SWAPPED` on all of the file's
# chunks when it committed. Nothing sets them now; a chunk whose marks disagree stays hidden.
STAGED = "staged"
SWAPPED = "swapped"
MARK_FIELDS = (STAGED, SWAPPED)
SearchMode = Literal["hybrid", "dense", "sparse"]
_POINT_NAMESPACE = uuid.UUID("5b0c6a1e-8d0f-4a8e-9a57-5e9b3f1c2d47")


@dataclasses.dataclass(frozen=True)
class TenantScope:
    """Whose chunks a search may see: the user's own files and their teams' files."""

    user_id: str
    team_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.user_id or not all(self.team_ids):
            raise ValueError("A tenant scope needs a user id and non-empty team ids.")


@dataclasses.dataclass(frozen=True)
class Owner:
    """Who a file belongs to: a user, or a team (exactly one)."""

    user_id: str | None = None
    team_id: str | None = None

    def __post_init__(self) -> None:
        if bool(self.user_id) == bool(self.team_id):
            raise ValueError("A file belongs to exactly one user or one team.")


@dataclasses.dataclass(frozen=True)
class CollectionSpec:
    """The embedding model a collection is built with, and its vector size."""

    model_id: str
    dimension: int


class CollectionState(enum.StrEnum):
    """What `ensure_collection` found."""

    CREATED = "created"
    READY = "ready"
    MODEL_CHANGED = "model_changed"


@dataclasses.dataclass(frozen=True, kw_only=True)
class IndexedChunk:
    """A chunk with its vectors and the file it came from, ready to upsert."""

    file_id: str
    file_name: str
    folder_id: str | None
    owner: Owner
    chunk: Chunk
    dense: Sequence[float]
    sparse: SparseVector
    embedding_key: str = ""  # what `dense` was embedded from (`knowledge.indexing.embedding_key`)
    # The indexing writing it (`knowledge.indexing`): stored under ids of this version. Empty:
    # under the chunk's plain id, as chunks were stored before versions.
    version: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class SearchHit:
    """A chunk found by a search, with what a citation needs."""

    point_id: str
    score: float
    file_id: str
    file_name: str
    folder_id: str | None
    chunk_index: int
    text: str
    section: tuple[str, ...]
    page: int | None
    start: int
    end: int
    version: str = ""  # the file's version the chunk belongs to ("" if stored before versions)


# The live version of each of these files (absent or None: the file has none, or is gone).
LiveVersions = Callable[[Sequence[str]], Mapping[str, str | None]]
# For the files named, only chunks of this version (None: none of the file's chunks).
Versions = Mapping[str, str | None]


class VectorIndex(Protocol):
    """Where chunks are stored and searched; every method may raise `VectorStoreUnavailable`."""

    def ensure_collection(self, spec: CollectionSpec) -> CollectionState:
        """Create the collection if absent; say whether it was built with another model."""
        ...

    def reset_collection(self, spec: CollectionSpec) -> None:
        """Drop every chunk and record a new model (before reindexing everything)."""
        ...

    def upsert(self, chunks: Sequence[IndexedChunk]) -> None:
        """Insert or replace chunks (a chunk's id comes from its file id and index).

        Raises:
            IndexModelMismatch: the vectors do not have the collection's size.
        """
        ...

    def settle_file(self, file_id: str, keep: str | None) -> None:
        """Delete a file's chunks of every version but `keep` (None: all of them)."""
        ...

    def delete_version(self, file_id: str, version: str) -> None:
        """Delete a file's chunks of one version ("": those stored before versions)."""
        ...

    def delete_file(self, file_id: str) -> None:
        """Remove every chunk of a file."""
        ...

    def stored_vectors(self, owner: Owner, keys: Sequence[str]) -> dict[str, Sequence[float]]:
        """The dense vectors stored under these embedding keys in the owner's own chunks.

        Only chunks of exactly this owner are read (a user's own files, or one team's), never
        another tenant's: a tenant learns nothing of another's texts, and no vector crosses.
        """
        ...

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
        """The best chunks the scope may see: dense and sparse candidates fused by RRF.

        The chunks of every version of a file are candidates, but with `versions` only the
        given version of the files it names (the caller keeps each file's live version).

        `identifiers` (the query's exact codes, `knowledge.sparse.identifier_vector`) adds a
        third lexical candidate list to the fusion when it has terms. `fusion` sets how deep
        each list is read and what it weighs (`knowledge.fusion`); ties are broken by a fixed
        rule, so identical searches return identical orders.
        """
        ...

    def file_chunks(
        self, file_id: str, *, version: str | None, limit: int = 1000, offset: int = 0
    ) -> list[SearchHit]:
        """The chunks of one version of a file in order, none for None (the caller has checked
        the file is visible and knows its live version)."""
        ...

    def count(self, *, file_id: str | None = None) -> int:
        """How many chunks are stored, in all or for one file (hidden ones included)."""
        ...

    def optimize_in_background(self) -> Future[None]:
        """Build the search structures (HNSW) off the request path; done when it completes."""
        ...

    def close(self) -> None:
        """Release the index (an embedded one unlocks its folder)."""
        ...


def point_id(file_id: str, chunk_index: int, version: str = "") -> str:
    """The id of a chunk: one per file, index and version (a version overwrites no other)."""
    name = f"{file_id}:{version}:{chunk_index}" if version else f"{file_id}:{chunk_index}"
    return str(uuid.uuid5(_POINT_NAMESPACE, name))


def payload(item: IndexedChunk) -> dict[str, Any]:
    """What is stored with a chunk's vectors: tenant ids, file, version, text and citation
    fields."""
    chunk = item.chunk
    return {
        "owner_user_id": item.owner.user_id or "",
        "team_id": item.owner.team_id or "",
        "file_id": item.file_id,
        "file_name": item.file_name,
        "folder_id": item.folder_id or "",
        "chunk_index": chunk.index,
        "text": chunk.text,
        "section": list(chunk.section),
        "page": chunk.page,
        "start": chunk.start,
        "end": chunk.end,
        "embedding_key": item.embedding_key,
        **({FILE_VERSION: item.version} if item.version else {}),
    }


def hit(identifier: object, score: float, data: Mapping[str, Any]) -> SearchHit:
    """A search hit from a stored payload."""
    return SearchHit(
        point_id=str(identifier),
        score=float(score),
        file_id=str(data["file_id"]),
        file_name=str(data.get("file_name", "")),
        folder_id=str(data["folder_id"]) if data.get("folder_id") else None,
        chunk_index=int(data["chunk_index"]),
        text=str(data["text"]),
        section=tuple(data.get("section") or ()),
        page=int(data["page"]) if data.get("page") is not None else None,
        start=int(data["start"]),
        end=int(data["end"]),
        version=str(data.get(FILE_VERSION) or ""),
    )


def stored_dense(vector: object) -> array[float] | None:
    """The dense vector of a record read back with its named vectors, as float32, or None."""
    dense = vector.get(DENSE) if isinstance(vector, Mapping) else None
    if not isinstance(dense, list) or not all(isinstance(value, float) for value in dense):
        return None
    return array("f", dense)


_LOOKUP_BATCH = 256


class StoredRecord(Protocol):
    """A point read back with its payload and named vectors (Edge's or qdrant-client's)."""

    @property
    def payload(self) -> Mapping[str, Any] | None: ...

    @property
    def vector(self) -> object: ...


def vectors_by_key(
    keys: Sequence[str], scroll: Callable[[list[str]], Iterable[StoredRecord]]
) -> dict[str, Sequence[float]]:
    """The dense vectors stored under `keys`, read `_LOOKUP_BATCH` keys at a time by `scroll`
    (one owner's chunks whose `embedding_key` is among those given, at most one a key asked)."""
    found: dict[str, Sequence[float]] = {}
    for begin in range(0, len(keys), _LOOKUP_BATCH):
        missing = list(keys[begin : begin + _LOOKUP_BATCH])
        while missing:  # each round asks only for keys still missing, so it ends
            for record in scroll(missing):
                key = str((record.payload or {}).get("embedding_key", ""))
                vector = stored_dense(record.vector)
                if vector is not None and key:
                    found.setdefault(key, vector)
            still = [key for key in missing if key not in found]
            if len(still) == len(missing):
                break
            missing = still
    return found


def spec_metadata(spec: CollectionSpec) -> dict[str, Any]:
    """How a collection records its model."""
    return {"model_id": spec.model_id, "dimension": spec.dimension}


_DIGEST = re.compile(r"#[0-9a-f]{16}$")  # a local model's files (`knowledge.model_files`)


def state_of(recorded: Mapping[str, Any] | None, spec: CollectionSpec) -> CollectionState:
    """READY when the recorded model is `spec`, else MODEL_CHANGED.

    A collection recorded before model ids ended with the digest of the model's files is READY
    for the same model with a digest (an upgrade does not rebuild the index); `recorded_before_
    digests` then tells the backend to record the digest, so a later change of the files is seen.
    """
    if recorded is not None and (
        dict(recorded) == spec_metadata(spec) or recorded_before_digests(recorded, spec)
    ):
        return CollectionState.READY
    return CollectionState.MODEL_CHANGED


def recorded_before_digests(recorded: Mapping[str, Any] | None, spec: CollectionSpec) -> bool:
    """Whether `recorded` is `spec`'s model without the digest of its files."""
    plain = CollectionSpec(_DIGEST.sub("", spec.model_id), spec.dimension)
    return plain != spec and recorded is not None and dict(recorded) == spec_metadata(plain)


class UnavailableIndex:
    """Stands in when no index can serve this process (several workers, no Qdrant server).

    Every call raises `VectorStoreUnavailable`, so the rest of the application keeps working.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __getattr__(self, name: str) -> Any:
        def unavailable(*args: object, **kwargs: object) -> Any:
            raise VectorStoreUnavailable(self.reason)

        return unavailable
