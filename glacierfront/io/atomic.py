"""Atomic file writes: write beside the target, then rename, so a crash never leaves half a file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from glacierfront.errors import GlacierfrontError, first_line


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces ``target``.

    On any exception the temporary file is removed and ``target`` is left as it was. A failed write (disk
    full, quota, I/O error) becomes a one-line ``GlacierfrontError`` that says the previous file is kept.
    """
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise GlacierfrontError(f"{target}: output folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise GlacierfrontError(f"{target}: output folder {folder} is not writable")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix, dir=folder)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files; give the result the permissions a plain open() would have.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    existed = target.exists()
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException as err:
        tmp_path.unlink(missing_ok=True)
        if _write_failure(err):
            reason = err.strerror if isinstance(err, OSError) and err.strerror else first_line(err)
            kept = "; the previous file is kept" if existed else ""
            raise GlacierfrontError(f"{target}: writing failed ({reason}){kept}") from None
        raise


def _write_failure(err: BaseException) -> bool:
    """The disk refused the bytes (full, quota, I/O error), as the OS, GDAL or torch's writer reports it."""
    if isinstance(err, GlacierfrontError):
        return False
    if isinstance(err, OSError):  # includes rasterio's RasterioIOError and PIL's write errors
        return True
    # torch.save reports a failed write as RuntimeError("... PytorchStreamWriter failed writing file ...").
    return isinstance(err, RuntimeError) and "writ" in str(err).lower() and "fail" in str(err).lower()
