"""Token counting works offline from LiteLLM's bundled tiktoken files."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
import tiktoken

from core import tokens


def test_counts_depend_on_the_models_encoding() -> None:
    text = "Switchboard counts tokens offline: 12345 — ünïcödé."
    assert tokens.count_text(text, "gpt-4o") > 0
    assert tokens.encoding_for("gpt-4o").name == "o200k_base"
    assert tokens.encoding_for("openai/gpt-4").name == "cl100k_base"
    assert tokens.encoding_for("some-local-model").name == "cl100k_base"
    assert tokens.decode(tokens.encode(text, "gpt-4o"), "gpt-4o") == text


def test_compacted_tables_encode_as_tiktokens_own() -> None:
    from tiktoken_ext import openai_public  # type: ignore[import-untyped]

    fresh = tiktoken.Encoding(**openai_public.cl100k_base())  # its Python merge table kept
    compacted = tokens.encoding_for("some-local-model")
    text = "Switchboard <|endoftext|> counts 12345 — ünïcödé 🙂 tokens\n\tof   code: x+=1;"
    assert compacted._mergeable_ranks == {}
    ids = fresh.encode(text, disallowed_special=())
    assert tokens.encode(text) == ids
    assert tokens.count_text(text) == len(ids)
    assert tokens.decode(ids) == fresh.decode(ids) == text


def test_message_counts_include_framing() -> None:
    one = [{"role": "user", "content": "hello"}]
    assert tokens.count_messages(one) > tokens.count_text("hello")
    assert tokens.count_messages(one + one) > tokens.count_messages(one)


def test_counting_needs_no_network_or_cache() -> None:
    code = "from core import tokens; print(tokens.count_text('hello world', 'gpt-4o'))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": "", "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"


def test_long_texts_are_counted_once_and_remembered_by_digest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counted = tokens.Counts(2)
    monkeypatch.setattr(tokens, "COUNTED", counted)
    prompt = "You are a coding agent; follow the repository's conventions. " * 40
    expected = len(tokens.encoding_for("gpt-4o").encode(prompt))
    assert tokens.count_text(prompt, "gpt-4o") == tokens.count_text(prompt, "gpt-4o") == expected
    assert len(counted) == 1  # the second count was the remembered one
    tokens.count_text("short", "gpt-4o")
    assert len(counted) == 1  # short texts cost less to count than to look up
    system = [{"role": "system", "content": prompt}, {"role": "user", "content": "hi"}]
    assert tokens.count_messages(system, "gpt-4") == tokens.count_messages(system, "gpt-4")
    assert len(counted) == 2  # another encoding, another entry
    tokens.count_text(prompt + "!", "gpt-4o")
    assert len(counted) == 2  # bounded: the oldest used is dropped


@pytest.mark.parametrize("model", ["gpt-4", "gpt-4o", "text-davinci-003"])
def test_a_running_count_of_a_growing_text_is_its_whole_count(model: str) -> None:
    # Endings where appending re-splits the text: spaces to the end, a space before a word or
    # a number, contractions, digits in threes, newlines after punctuation, special tokens.
    parts = ["Hi", " wor", "ld", " ", "  ", "3", ".", "\r\n", "don", "'", "t", "'ll", "  \n  "]
    parts += ["1234", "567", "<|endo", "ftext|>", " ünï", "cödé", " 🙂", "\u3000", "\t", "!!", "a"]
    pick = random.Random(20261206)
    for _ in range(40):
        text = ""
        running = tokens.RunningCount(model)
        for _ in range(60):
            text += "".join(pick.choices(parts, k=pick.randint(0, 3)))
            assert running.count(text) == len(tokens.encode(text, model)), repr(text[-30:])
        assert running._settled_chars > len(text) // 2  # most of it counted once
