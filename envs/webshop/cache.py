"""Where generated shop data lives on disk, and how it is written without leaving half a file."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any
from collections.abc import Callable


def cache_root() -> Path:
    """`$EARLYEXP_CACHE/webshop`, by default `~/.cache/earlyexp/webshop`."""
    base = Path(os.environ.get("EARLYEXP_CACHE", Path.home() / ".cache" / "earlyexp"))
    return base / "webshop"


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON to a temp file beside `path`, then rename it over `path` in one step.

    A run killed mid-write leaves only a stray temp file, never a truncated
    `path` that a later run would trust.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is shared data
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached_json(path: Path, build: Callable[[], Any]) -> Any:
    """Load `path` if a previous run wrote it, else build the payload and write it atomically.

    A file that does not parse (written by something other than
    `write_json_atomic`) is rebuilt rather than trusted.
    """
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        payload = build()
        write_json_atomic(path, payload)
        # Hand back what a later run would read, so a fresh build and a cache hit agree exactly.
        return json.loads(json.dumps(payload))
