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
        listed = parse_sum_line(line)
        if listed is not None and listed[1] == path.name:
            actual = digest or sha256_file(path)
            if actual != listed[0]:
                raise GlacierfrontError(
                    f"{path}: sha256 {actual[:12]}... does not match {sums} ({listed[0][:12]}...); "
                    "the file is damaged or was replaced: restore it (git checkout) or fix the sum"
                )
            return True
    return None


def parse_sum_line(line: str) -> tuple[str, str] | None:
    """(sha256, file name) of one ``sha256sum`` line, or None for a line that is not one.

    The format is 64 hex digits, one space, a space (text mode) or "*" (binary mode), then the name as it is:
    a name may hold spaces, so the line is cut at fixed places, not split on whitespace.
    """
    line = line.rstrip("\r\n")
    digest, sep, mode, name = line[:64], line[64:65], line[65:66], line[66:]
    if len(digest) != 64 or sep != " " or mode not in (" ", "*") or not name:
        return None
    try:
        int(digest, 16)
    except ValueError:
        return None
    return digest.lower(), name
