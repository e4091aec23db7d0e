"""The files of a local embedding model: where they are, and a digest of what they hold.

The digest is part of the model's identity (`Embedder.model_id`), so a model whose files are
replaced in place, under the same name or path, counts as another model: none of its vectors
stored before are reused, and the index is rebuilt (`knowledge.vector_store`). Documentation
files (README, licence, model card) and hidden folders are left out, so editing those changes
nothing. Reading the weights takes 0.1-0.4 s for all-MiniLM-L6-v2's 90 MB, too long for every
start of the embedding worker, so each file's digest is kept in the export cache under its path,
size and modification time and read again only when one of those changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

DIGEST_LENGTH = 16  # hex digits in a model_id after its "#"
CACHE_FILE = "file-digests.json"
_DOCUMENTATION = re.compile(r"^(readme|licen[cs]e|notice|model_card)|\.md$", re.IGNORECASE)


def model_folder(location: str) -> Path | None:
    """The folder a model loads from: a local path, or the hub cache's snapshot of a hub name
    (offline); None when neither is there (loading the model then reports it)."""
    path = Path(location)
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        snapshot = snapshot_download(location, local_files_only=True)
    except Exception:  # not a hub name, or not in the cache: nothing to digest
        return None
    return Path(str(snapshot))


def model_digest(folder: Path | None, cache_dir: Path) -> str:
    """`DIGEST_LENGTH` hex digits over the names and contents of a model folder's files, or ""
    for no folder. Each file's digest is cached in `cache_dir` (see the module docstring)."""
    if folder is None:
        return ""
    cache_path = cache_dir / CACHE_FILE
    cache = _read_cache(cache_path)
    changed = False
    overall = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if _ignored(relative) or not path.is_file():
            continue
        stat = path.stat()
        key, stamp = str(path.resolve()), [stat.st_size, stat.st_mtime_ns]
        entry = cache.get(key)
        if entry is None or entry[:2] != stamp:
            with path.open("rb") as stream:
                entry = [*stamp, hashlib.file_digest(stream, "sha256").hexdigest()]
            cache[key], changed = entry, True
        overall.update(f"{relative.as_posix()}\0{entry[2]}\n".encode())
    if changed:
        _write_cache(cache_path, cache)
    return overall.hexdigest()[:DIGEST_LENGTH]


def _ignored(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts) or bool(
        _DOCUMENTATION.search(relative.name)
    )


def _read_cache(path: Path) -> dict[str, list[int | str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, cache: dict[str, list[int | str]]) -> None:
    """Replace the cache file at once (another process may read or write it meanwhile)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=".digests-", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(cache, stream)
        os.replace(name, path)
    except OSError:  # a read-only cache: the digests are computed again next time
        pass
