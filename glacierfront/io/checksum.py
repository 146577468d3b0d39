"""File checksums: sha256 of a file, and verification against a SHA256SUMS file beside it."""

from __future__ import annotations

import hashlib
from pathlib import Path

from glacierfront.errors import GlacierfrontError


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


CHECKSUM_FILE = "SHA256SUMS"


def verify_listed_checksum(path: str | Path, digest: str | None = None) -> bool | None:
    """Check ``path`` against a SHA256SUMS file beside it (``sha256sum`` format), as models/ ships.

    Returns True when listed and matching, None when not listed; a mismatch raises: a damaged or swapped
    model must never load silently. ``digest`` is the file's sha256 when the caller has it already.
    """
    path = Path(path)
    sums = path.parent / CHECKSUM_FILE
    if not sums.is_file():
        return None
    for line in sums.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == path.name:
            actual = digest or sha256_file(path)
            if actual != parts[0].lower():
                raise GlacierfrontError(
                    f"{path}: sha256 {actual[:12]}... does not match {sums} ({parts[0][:12]}...); "
                    "the file is damaged or was replaced: restore it (git checkout) or fix the sum"
                )
            return True
    return None
