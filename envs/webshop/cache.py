"""Where generated shop data lives on disk, and how it is written without leaving half a file."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from collections.abc import Callable
from earlyexp.envs.cache import cache_root as family_cache_root, write_text_atomic


def cache_root() -> Path:
    """`$EARLYEXP_CACHE/webshop`, by default `~/.cache/earlyexp/webshop`."""
    return family_cache_root("webshop")


def cached_json(path: Path, build: Callable[[], Any]) -> Any:
    """Load `path` if a previous run wrote it, else build the payload and write it atomically.

    A file that does not parse (written by something other than
    `write_text_atomic`) is rebuilt rather than trusted.
    """
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        payload = build()
        write_text_atomic(path, json.dumps(payload, separators=(",", ":")))
        # Hand back what a later run would read, so a fresh build and a cache hit agree exactly.
        return json.loads(json.dumps(payload))
