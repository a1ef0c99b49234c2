"""Reproducible zip files for Lambda: the same inputs give the same bytes (and CodeSha256).

Fixed timestamps and sorted entries mean re-running a step whose code did not
change is recognised as "unchanged" instead of redeploying.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zipfile
from pathlib import Path
from typing import Iterable

_EPOCH = (1980, 1, 1, 0, 0, 0)


def deterministic_zip(entries: Iterable[tuple[str, Path]]) -> bytes:
    """Zip ``(name in archive, file on disk)`` pairs with fixed metadata."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, path in sorted(entries):
            info = zipfile.ZipInfo(name, _EPOCH)
            info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def tree_entries(root: Path, prefix: str) -> list[tuple[str, Path]]:
    """Every file below ``root`` as ``prefix/relative/path`` (caches excluded)."""
    return [
        (f"{prefix}/{path.relative_to(root).as_posix()}", path)
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]


def code_sha256(data: bytes) -> str:
    """Lambda's CodeSha256: base64 of the SHA-256 of the zip."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()
