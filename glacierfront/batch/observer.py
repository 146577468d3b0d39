"""What a batch tells its caller while it runs: one observer for the sequential and the Dask loop.

``predict_many`` yields a ``SceneOutcome`` per finished scene on either executor; an observer adds what only
the process running a scene can see: its tiles as they go. A caller (the CLI's progress bars, a notebook,
a test) implements the methods it cares about; the base class does nothing. On Dask the scenes run in other
processes and only ``scene_done`` is called (from the client, as each outcome arrives).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from glacierfront.batch.job import SceneOutcome
    from glacierfront.batch.sources import SceneSource


class SceneProgress:
    """One scene's tiles, as ``predict.predict_scene`` reports them."""

    def on_start(self, tiles: int, pixels: int) -> None:
        """The scene's tile grid is known: ``tiles`` tiles over ``pixels`` pixels."""

    def on_tiles(self, n: int) -> None:
        """``n`` more tiles are through the model."""


class BatchObserver:
    """Progress of a batch; every method is optional."""

    @contextlib.contextmanager
    def scene(self, source: SceneSource, index: int) -> Iterator[SceneProgress]:
        """Around one attempt at a scene in this process: yields where its tiles are reported."""
        yield SceneProgress()

    def scene_done(self, outcome: SceneOutcome) -> None:
        """A scene finished (ok, no front or failed after its retries), before it is yielded."""
