"""Tenant isolation: searches made of other tenants' canary text never return their chunks."""

from __future__ import annotations

import random
import uuid

from knowledge.documents import ParseLimits
from knowledge.embeddings import Embedder
from knowledge.index import CollectionSpec, Owner, TenantScope, VectorIndex
from knowledge.indexing import index_document
from knowledge.parsing import parse_document
from knowledge.sparse import query_vector
from tests.knowledge import samples

TEAMS = {"team-a": [f"user-a{n}" for n in range(5)], "team-b": [f"user-b{n}" for n in range(5)]}
SEARCHES = 1000


def _canary(owner: str) -> str:
    return f"canary-{owner}-{uuid.uuid4().hex[:12]}"


def test_a_thousand_searches_of_foreign_canaries_return_no_foreign_chunk(
    index: VectorIndex, embedder: Embedder
) -> None:
    index.ensure_collection(CollectionSpec(embedder.model_id, embedder.dimension))
    owners: dict[str, Owner] = {}
    canaries: dict[str, str] = {}
    for team, users in TEAMS.items():
        for owner_key, owner in [(team, Owner(team_id=team))] + [
            (user, Owner(user_id=user)) for user in users
        ]:
            canary = _canary(owner_key)
            text = f"Private notes of {owner_key}. The secret phrase is {canary}. Keep it safe."
            data = samples.markdown_file([("Secrets", [text])])
            file_id = f"file-{owner_key}"
            document = parse_document(data, ParseLimits())
            index_document(
                index=index, embedder=embedder, document=document,
                file_id=file_id, file_name=f"{owner_key}.md", owner=owner,
            )  # fmt: skip
            owners[file_id], canaries[owner_key] = owner, canary
    rng = random.Random(1)
    members = [(user, team) for team, names in TEAMS.items() for user in names]
    plan = []
    for _ in range(SEARCHES):
        user, team = rng.choice(members)
        foreign = [key for key in canaries if key not in (user, team)]
        plan.append((TenantScope(user, (team,)), f"secret phrase {canaries[rng.choice(foreign)]}"))
    vectors = embedder.embed_queries([text for _, text in plan])
    foreign_hits = 0
    own_hits = 0
    for (scope, text), vector in zip(plan, vectors, strict=True):
        for hit in index.search(scope, vector, query_vector(text), limit=5):
            owner = owners[hit.file_id]
            visible = owner.user_id == scope.user_id or owner.team_id in scope.team_ids
            foreign_hits += not visible
            own_hits += visible
    assert foreign_hits == 0
    assert own_hits > 0  # the searches did return the user's own chunks
