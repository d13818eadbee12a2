"""Where families cache generated data, and how they write it without ever leaving half a file.

    path = cache_root("household") / key / "train.json"
    write_text_atomic(path, json.dumps(payload))

The root is `$EARLYEXP_CACHE`, or `~/.cache/earlyexp`, plus the family's name.
A write goes to a private temporary sibling, is flushed to disk and renamed
over `path`, so a reader (or a run killed mid-write) sees the old file, the
whole new one, or none — never a truncated file that a later run would trust.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_root(family: str) -> Path:
    """`$EARLYEXP_CACHE/<family>` (default `~/.cache/earlyexp/<family>`)."""
    return Path(os.environ.get("EARLYEXP_CACHE", Path.home() / ".cache" / "earlyexp")) / family


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (temp sibling, fsync, rename); creates parent dirs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is shared data
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
