"""Process environment for running offline: set before LiteLLM, tiktoken or Hugging Face load."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def litellm_tokenizers_dir() -> Path | None:
    """The folder of tiktoken files LiteLLM ships, found without importing LiteLLM (slow)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
    return folder if folder.is_dir() else None


def prepare_offline() -> None:
    """Make every library use its bundled data instead of the network (idempotent)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    folder = litellm_tokenizers_dir()
    if folder is not None:
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(folder))
