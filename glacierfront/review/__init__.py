"""Review in the browser: accept, reject or redraw the fronts of a predict run; verdicts are data.

    from glacierfront.review import open_run, ReviewSession, ReviewServer

    run = open_run(Path("fronts/"))                      # a predict output folder with its manifest.csv
    session = ReviewSession(run, reviewer="me", extras=Extras(box=Path("box.gpkg")))
    server = ReviewServer(session).start()               # 127.0.0.1, a free port: server.url
    session.judge(0, "rejected", revision=0)             # what the page's `r` key does

The data flow: ``run`` (scenes, their lines and GeoTIFFs) -> ``session`` (what the page reads and writes,
in each scene's pixel grid, ``imagery``) -> ``verdicts`` (RUN/review.csv and RUN/review.gpkg, atomically)
-> ``server`` (the Flask routes) -> ``static/`` (the page: review.js on Leaflet, vendored). See docs/review.md.
"""

from glacierfront.lazy import lazy_names

_EXPORTS = {
    "open_run": "run",
    "ReviewRun": "run",
    "SceneEntry": "run",
    "ReviewSession": "session",
    "Extras": "session",
    "ReviewServer": "server",
    "VerdictStore": "verdicts",
    "read_verdicts": "verdicts",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_names(__name__, _EXPORTS)
