"""All-or-nothing local file writes, shared by the library's savers and the Kedro datasets.

Readers see the old file or the whole new one, never a part: the bytes go to a temporary
file in the same folder (flushed to disk), which is then renamed over the target
(``os.replace`` is atomic within a filesystem). A failed write leaves no temporary file.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_bytes_atomically(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to the local file ``path`` atomically (creating its folder); returns the path.

    A file that already holds exactly ``data`` is left alone: a rerun that saves the same
    outputs again then costs a read per file instead of a write, a flush and a rename.
    """
    path = Path(path)
    if _holds(path, data):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.partial"
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _holds(path: Path, data: bytes) -> bool:
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False
