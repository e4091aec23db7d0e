"""A small labelled retrieval set: files built here, questions with the section that answers them.

Two kinds of question: paraphrases of policy text (dense retrieval's strength) and questions
about exact part codes in near-identical records (where lexical matching is needed).
"""

from __future__ import annotations

import dataclasses
import random

from tests.knowledge import samples

POLICIES: dict[str, tuple[str, str]] = {
    "Vacation": (
        "Employees accrue two days of paid vacation per month and may carry over up to ten "
        "unused days into the next calendar year.",
        "How many days off can I bring into next year?",
    ),
    "Expenses": (
        "Receipts for business meals must be submitted within thirty days; meals above fifty "
        "dollars per person need a manager's approval before reimbursement.",
        "How long do I have to hand in restaurant receipts to get my money back?",
    ),
    "Passwords": (
        "Account passwords are rotated every ninety days and must contain at least fourteen "
        "characters; reuse of the last five passwords is blocked.",
        "How often must I change my login secret?",
    ),
    "Parental leave": (
        "New parents receive sixteen weeks of fully paid leave, which can be taken in up to "
        "three blocks during the first year after birth or adoption.",
        "How much paid time off do I get after having a baby?",
    ),
    "Laptop return": (
        "When leaving the company, staff return their laptop and badge to the IT desk on their "
        "last working day; couriers are arranged for remote staff.",
        "What happens to my computer when I quit?",
    ),
    "Security incidents": (
        "Suspected phishing or a lost device must be reported to the security team within one "
        "hour through the incident hotline, day or night.",
        "Who do I tell if I clicked a suspicious email link?",
    ),
    "Remote work": (
        "Staff may work from home up to three days a week; the home office stipend covers a "
        "chair, a monitor and internet costs up to a monthly cap.",
        "Does the company pay for my desk chair at home?",
    ),
    "Training budget": (
        "Each engineer has a yearly learning budget of two thousand dollars for courses, "
        "conferences and books, approved by their lead.",
        "How much money can I spend on conferences and courses?",
    ),
}
_WAREHOUSES = ["Rotterdam", "Leeds", "Lyon", "Porto", "Gdansk"]
_KINDS = ["hex bolt", "flange nut", "washer", "hinge pin", "rivet"]


@dataclasses.dataclass(frozen=True)
class Question:
    """A question and where its answer is: a file name and the last heading of its section."""

    text: str
    file_name: str
    section: str
    kind: str  # "paraphrase" or "identifier"


@dataclasses.dataclass(frozen=True)
class LabelledSet:
    files: dict[str, bytes]
    questions: list[Question]


def part_code(rng: random.Random) -> str:
    """Codes alike enough that meaning cannot tell them apart: KX-4821-B, KX-4812-C..."""
    return f"{rng.choice(['KX', 'KZ'])}-{rng.randint(4800, 4899)}-{rng.choice('ABC')}"


def build(parts: int = 200, asked: int = 40, seed: int = 7) -> LabelledSet:
    """The files (a DOCX handbook, a Markdown parts catalogue) and their questions."""
    rng = random.Random(seed)
    handbook = [(title, [body]) for title, (body, _) in POLICIES.items()]
    questions = [
        Question(question, "handbook.docx", title, "paraphrase")
        for title, (_, question) in POLICIES.items()
    ]
    records = []
    codes: set[str] = set()
    for number in range(1, parts + 1):
        code = part_code(rng)
        while code in codes:
            code = part_code(rng)
        codes.add(code)
        kind, place = rng.choice(_KINDS), rng.choice(_WAREHOUSES)
        body = (
            f"Part {code} is a stainless {kind} of {rng.randint(4, 20)} mm used in the pump "
            f"housing. It is stocked in the {place} warehouse and reordered in boxes of "
            f"{rng.choice([50, 100, 200])}."
        )
        section = f"Record {number}"
        records.append((section, [body]))
        if number % (parts // asked) == 0:
            question = f"Which warehouse stocks part {code}?"
            questions.append(Question(question, "parts.md", section, "identifier"))
    files = {
        "handbook.docx": samples.docx_file(handbook),
        "parts.md": samples.markdown_file(records),
    }
    return LabelledSet(files, questions)


def reciprocal_rank(found: list[tuple[str, tuple[str, ...]]], question: Question) -> float:
    """1/rank of the first hit in the answering file and section, 0 when absent."""
    for rank, (file_name, section) in enumerate(found, start=1):
        if file_name == question.file_name and section and section[-1] == question.section:
            return 1.0 / rank
    return 0.0


@dataclasses.dataclass(frozen=True)
class Score:
    recall_at_5: float
    mrr: float
    questions: int


def index_set(index: object, embedder: object, labelled: LabelledSet, owner_user: str) -> None:
    """Parse, chunk, embed and index the labelled files for one user."""
    from knowledge.documents import ParseLimits
    from knowledge.index import CollectionSpec, Owner
    from knowledge.indexing import index_document
    from knowledge.parsing import parse_document

    index.ensure_collection(CollectionSpec(embedder.model_id, embedder.dimension))  # type: ignore[attr-defined]
    for name, data in labelled.files.items():
        index_document(
            index=index,  # type: ignore[arg-type]
            embedder=embedder,  # type: ignore[arg-type]
            document=parse_document(data, ParseLimits()),
            file_id=name,
            file_name=name,
            owner=Owner(user_id=owner_user),
        )


def evaluate(
    index: object, embedder: object, labelled: LabelledSet, owner_user: str, mode: str
) -> dict[str, Score]:
    """recall@5 and MRR per kind of question ("paraphrase", "identifier", "all")."""
    from knowledge.index import TenantScope
    from knowledge.sparse import identifier_vector, query_vector

    scope = TenantScope(owner_user)
    vectors = embedder.embed_queries([q.text for q in labelled.questions])  # type: ignore[attr-defined]
    ranks: dict[str, list[float]] = {"paraphrase": [], "identifier": [], "all": []}
    for question, vector in zip(labelled.questions, vectors, strict=True):
        hits = index.search(  # type: ignore[attr-defined]
            scope,
            vector,
            query_vector(question.text),
            identifiers=identifier_vector(question.text),
            limit=5,
            mode=mode,
        )
        rank = reciprocal_rank([(hit.file_name, hit.section) for hit in hits], question)
        ranks[question.kind].append(rank)
        ranks["all"].append(rank)
    return {
        kind: Score(
            recall_at_5=sum(1 for r in values if r > 0) / len(values),
            mrr=sum(values) / len(values),
            questions=len(values),
        )
        for kind, values in ranks.items()
    }
