"""Whole-scene scratch arrays on disk (memory maps) whose pages are handed back to the OS as we go.

A memory map's pages stay resident in the process after they are touched, so a scene-sized map slowly
becomes a scene-sized RSS even though the kernel could drop it. After each band, ``release`` writes
dirty pages back and tells the kernel we are done with them: RAM stays at one band's worth.

The arrays live in a folder of the temp dir (``TMPDIR``) named after the process, ``glacierfront-<pid>-*``,
that holds a lock while the process lives. A run killed with SIGKILL (or a killed batch worker) cannot remove
its folder, so every new scratch folder first removes the folders of this user whose process is gone.
Each array's disk space is reserved when it is made: a full disk is then an error naming the folder, not a
SIGBUS (exit 135, no message) when a page of the map cannot be written later.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from glacierfront.errors import GlacierfrontError

PREFIX = "glacierfront-"
LOCK = ".lock"
# A folder made without its lock (the process died at once) is only taken for stale after this long, so a
# folder that another process has just made, and not yet locked, is never removed under it.
UNLOCKED_GRACE_S = 300.0
_OURS = re.compile(rf"{re.escape(PREFIX)}(\d+)-[A-Za-z0-9_]+")  # the pid, then mkdtemp's random letters
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_UNSUPPORTED = (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS)


def _full_disk(folder: Path, err: OSError, needed: int | None = None) -> GlacierfrontError:
    size = f", {needed / 1e9:.2f} GB more wanted" if needed else ""
    return GlacierfrontError(
        f"{folder}: no room for the scene's scratch arrays ({err.strerror}{size}); they go to the temp dir "
        f"{tempfile.gettempdir()} (TMPDIR): free space there or set TMPDIR to "
        "a folder on a disk with room, e.g. TMPDIR=/scratch/$USER glacierfront ..."
    )


def _pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (in our pid namespace); when unsure, say alive."""
    if pid < 1:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's; anything else: unsure
        return True
    return True


def _is_stale(folder: Path, pid: int) -> bool:
    """A scratch folder is stale when its process is gone and nobody holds its lock (a process of another pid
    namespace sharing this temp dir, whose pid we cannot see, still holds it)."""
    if _pid_alive(pid):
        return False
    try:
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        try:
            return time.time() - os.lstat(folder).st_mtime > UNLOCKED_GRACE_S
        except OSError:
            return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held by a live process, or this file system has no locks: keep it
        return False
    finally:
        os.close(fd)
    return True


def remove_stale(base: Path | None = None) -> list[Path]:
    """Remove the scratch folders of dead glacierfront processes in ``base`` (default: the temp dir); only
    real folders (no links) of this user named ``glacierfront-<pid>-*`` are considered. Returns those removed."""
    base = Path(tempfile.gettempdir() if base is None else base)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    uid = os.getuid()
    for entry in entries:
        match = _OURS.fullmatch(entry.name)
        if match is None:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid:
            continue
        folder = Path(entry.path)
        if _is_stale(folder, int(match.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                removed.append(folder)
    return removed


@contextlib.contextmanager
def scratch_folder(base: Path | None = None) -> Iterator[Path]:
    """A private folder for scratch arrays in the temp dir, removed on exit; removes stale ones first."""
    if base is None:
        try:
            base = Path(tempfile.gettempdir())
        except OSError as err:  # none of TMPDIR, /tmp, /var/tmp, ... takes files
            raise GlacierfrontError(
                f"no temp dir for the scene's scratch arrays ({err}); set TMPDIR to a folder you can write to, "
                "e.g. TMPDIR=/scratch/$USER glacierfront ..."
            ) from None
    base = Path(base)
    remove_stale(base)
    try:
        folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base))
    except OSError as err:
        if err.errno in _FULL:
            raise _full_disk(base, err) from None
        raise GlacierfrontError(
            f"{base}: cannot make the scene's scratch folder in the temp dir (TMPDIR) ({err.strerror}); "
            "make it writable or set TMPDIR to a folder you can write to, e.g. TMPDIR=/scratch/$USER glacierfront ..."
        ) from None
    lock = None
    try:
        try:
            lock = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # no locks on this file system: the pid alone marks the folder as ours
            pass
        yield folder
    finally:
        if lock is not None:
            os.close(lock)
        shutil.rmtree(folder, ignore_errors=True)


def _reserve(path: Path, size: int) -> None:
    """Allocate the file's blocks now (they read as zeros), so that writing the map later cannot fail."""
    if not hasattr(os, "posix_fallocate") or size <= 0:
        return
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as err:
        if err.errno in _UNSUPPORTED:  # a file system that cannot reserve: go on as without it
            return
        raise
    finally:
        os.close(fd)


def scratch_array(folder: Path, name: str, dtype, shape: tuple[int, ...]) -> np.memmap:
    """A zero-filled array backed by ``folder/name.npy``, its disk space reserved; a full disk is a
    GlacierfrontError."""
    path = Path(folder) / f"{name}.npy"
    try:
        array = np.lib.format.open_memmap(path, "w+", dtype, shape)
        _reserve(path, path.stat().st_size)
    except OSError as err:
        if err.errno not in _FULL:
            raise
        needed = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        with contextlib.suppress(OSError):
            path.unlink()
        raise _full_disk(Path(folder), err, needed) from None
    return array


def release(*arrays: np.ndarray) -> None:
    """Flush and drop the resident pages of memory-mapped arrays (a no-op for ordinary arrays)."""
    for array in arrays:
        handle = getattr(array, "_mmap", None)
        if handle is None or not hasattr(handle, "madvise"):
            continue
        array.flush()
        handle.madvise(mmap.MADV_DONTNEED)
