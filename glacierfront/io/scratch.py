"""Whole-scene scratch arrays on disk (memory maps) whose pages are handed back to the OS as we go.

A memory map's pages stay resident in the process after they are touched, so a scene-sized map slowly
becomes a scene-sized RSS even though the kernel could drop it. After each band, ``release`` writes
dirty pages back and tells the kernel we are done with them: RAM stays at one band's worth.
"""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np


def scratch_array(folder: Path, name: str, dtype, shape: tuple[int, ...]) -> np.memmap:
    """A zero-filled array backed by ``folder/name.npy``."""
    return np.lib.format.open_memmap(Path(folder) / f"{name}.npy", "w+", dtype, shape)


def release(*arrays: np.ndarray) -> None:
    """Flush and drop the resident pages of memory-mapped arrays (a no-op for ordinary arrays)."""
    for array in arrays:
        handle = getattr(array, "_mmap", None)
        if handle is None or not hasattr(handle, "madvise"):
            continue
        array.flush()
        handle.madvise(mmap.MADV_DONTNEED)
