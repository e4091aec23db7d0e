"""Hypothesis against the library upload on a live server: whatever the files' names, media types
and bytes, the answer is never a 5xx and every refusal is a JSON error."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakes.upstream import FakeUpstream
from tests.support import live_admin_headers, live_server, make_catalog

EXAMPLES = 60


@pytest.fixture(scope="module")
def library(
    fake_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    folder = tmp_path_factory.mktemp("upload-fuzz")
    catalog = make_catalog(fake_upstream_server.base_url)
    with live_server(catalog, folder, embedding_backend="hash", max_upload_bytes=256 * 1024) as url:
        headers = live_admin_headers(url)
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            yield client


def _nested_json(depth: int, opener: str) -> bytes:
    closer = {"[": "]", '{"a":': "}"}[opener]
    return (opener * depth + "1" + closer * depth).encode()


def _zip(members: list[str], payload: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in members:
            archive.writestr(name, payload)
    return out.getvalue()


_OFFICE_NAMES = st.sampled_from(
    ["[Content_Types].xml", "word/document.xml", "xl/workbook.xml", "a.txt", "../../etc/x"]
)
CONTENTS = st.one_of(
    st.builds(
        _nested_json, st.integers(1, 50_000), st.sampled_from(["[", '{"a":'])
    ),  # deep JSON, the RecursionError of issue 14
    st.builds(_zip, st.lists(_OFFICE_NAMES, max_size=4, unique=True), st.binary(max_size=64)),
    st.binary(max_size=2_000).map(lambda tail: b"PK\x03\x04" + tail),  # zip-ish
    st.binary(max_size=2_000).map(lambda tail: b"%PDF-1.7\n" + tail),  # a PDF header
    st.binary(max_size=4_000),  # garbage
    st.text(alphabet="#-*|[]()<>!\"',;\t\n {}0123456789abc\ufeff\u00e9", max_size=4_000).map(
        str.encode
    ),  # text of every type's marks
    st.just(json.dumps({"a": [1, {"b": None}]}).encode()),
    st.just(b"\xff\xfe" + "utf-16 text".encode("utf-16-le")),
)
NAMES = st.one_of(st.text(max_size=600), st.sampled_from(["a.json", "x.docx", ".", ""]))
MEDIA_TYPES = st.one_of(
    st.sampled_from(["application/json", "application/pdf", "application/zip", "text/plain"]),
    st.from_regex(r"\A[a-z]{1,10}/[a-z0-9.+-]{1,20}\Z"),
)
FILES = st.lists(st.tuples(NAMES, CONTENTS, MEDIA_TYPES), min_size=1, max_size=3)


def _check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    body = response.json()
    if response.status_code >= 400:
        assert isinstance(body.get("code"), str), body
        assert isinstance(body.get("message"), str) and isinstance(body.get("details"), dict)
    else:
        assert response.status_code == 201
        assert all(item["status"] == "pending" for item in body["_embedded"]["files"])


def test_no_upload_gives_a_5xx_and_every_refusal_is_a_json_error(library: httpx.Client) -> None:
    seen: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(files=FILES)
    def upload(files: list[tuple[str, bytes, str]]) -> None:
        parts: list[tuple[str, Any]] = [
            ("files", (name, data, media)) for name, data, media in files
        ]
        response = library.post("/api/library/files", files=parts)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        _check(response)

    upload()
    assert sum(seen.values()) == EXAMPLES and len(seen) >= 2, seen


def test_json_nested_990_levels_deep_is_refused_as_a_corrupt_file(library: httpx.Client) -> None:
    # The reproduction of issue 14: a RecursionError in type detection, answered 500.
    for depth in (990, 20_000):
        data = _nested_json(depth, "[")
        response = library.post("/api/library/files", files=[("files", ("deep.json", data))])
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "corrupt_file"
        assert response.json()["details"]["name"] == "deep.json"
