"""Token counts in cl100k_base, the unit of chunk sizes, prompt budgets and API usage."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path


@functools.cache
def cl100k() -> Callable[[str], list[int]]:
    """The cl100k_base encoder, loaded from llama-index's bundled cache (offline)."""
    import llama_index.core
    import tiktoken

    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        # tiktoken downloads encodings on first use; llama-index-core ships them.
        os.environ["TIKTOKEN_CACHE_DIR"] = str(
            Path(llama_index.core.__file__).parent / "_static" / "tiktoken_cache"
        )
    enc = tiktoken.get_encoding("cl100k_base")
    return lambda text: enc.encode(text, disallowed_special=())
