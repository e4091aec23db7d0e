"""A model's files are digested once, read again only when one changes; its docs do not count."""

from __future__ import annotations

import os
from pathlib import Path

from knowledge.model_files import CACHE_FILE, model_digest, model_folder


def _model(folder: Path) -> Path:
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "config.json").write_text('{"hidden_size": 8}')
    (folder / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    (folder / "README.md").write_text("A model card.")
    return folder


def test_a_file_rewritten_in_place_changes_the_digest(tmp_path: Path) -> None:
    folder, cache = _model(tmp_path / "model"), tmp_path / "cache"
    first = model_digest(folder, cache)
    assert model_digest(folder, cache) == first and (cache / CACHE_FILE).is_file()
    weights = folder / "model.safetensors"
    stat = weights.stat()
    weights.write_bytes(bytes(reversed(range(256))) * 64)  # the same size
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = model_digest(folder, cache)
    assert second != first
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')
    assert model_digest(folder, cache) not in (first, second)


def test_documentation_and_hidden_files_leave_the_digest_alone(tmp_path: Path) -> None:
    folder, cache = _model(tmp_path / "model"), tmp_path / "cache"
    first = model_digest(folder, cache)
    (folder / "README.md").write_text("A longer model card.")
    (folder / "LICENSE").write_text("Apache-2.0")
    (folder / ".cache").mkdir()
    (folder / ".cache" / "download.lock").write_text("")
    assert model_digest(folder, cache) == first


def test_a_cached_digest_is_not_read_again_while_size_and_time_are_unchanged(
    tmp_path: Path,
) -> None:
    folder, cache = _model(tmp_path / "model"), tmp_path / "cache"
    first = model_digest(folder, cache)
    weights = folder / "model.safetensors"
    stat = weights.stat()
    weights.write_bytes(bytes(reversed(range(256))) * 64)
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # size and time as before
    assert model_digest(folder, cache) == first  # the cached digest answered
    assert model_digest(folder, tmp_path / "another cache") != first


def test_a_name_found_nowhere_has_no_folder_and_no_digest(tmp_path: Path) -> None:
    assert model_folder("no-such-org/no-such-model") is None
    assert model_digest(None, tmp_path) == ""
    assert model_folder(str(tmp_path)) == tmp_path
