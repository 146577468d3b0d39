"""The review page's web server: Flask routes over a ``ReviewSession``, served by Werkzeug on 127.0.0.1.

What it serves, and nothing else: the page and its static files (the package's ``review/static`` folder,
Leaflet vendored there), the scene list, one scene's lines in its pixel grid, its decimated picture, the
series, and verdicts. Scenes are named by their number in the list, never by a path, so no request can reach
a file outside the run; static files are looked up by Flask's safe join inside the static folder. Data goes
to the page only as JSON, and the page writes it into the document as text (never as HTML), under a
Content-Security-Policy that allows no inline script. A verdict must arrive as JSON, which a page of another
site cannot send here without a CORS preflight that this server never grants; requests whose Host is not
this server's own address are refused (DNS rebinding).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from flask import Flask, abort, jsonify, request, send_from_directory
from werkzeug.serving import make_server

from glacierfront.errors import GlacierfrontError
from glacierfront.review.session import ReviewSession

STATIC = Path(__file__).resolve().parent / "static"
POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
          "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")  # fmt: skip
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def create_app(session: ReviewSession, allowed_hosts: tuple[str, ...] | None = LOOPBACK) -> Flask:
    """The Flask app; ``allowed_hosts``: Host header names accepted (None: any, for --host)."""
    app = Flask(__name__, static_folder=None)
    app.json.sort_keys = False

    @app.before_request
    def _check_host() -> None:
        host = (request.host or "").rsplit(":", 1)[0] if not (request.host or "").startswith("[") else \
            request.host.split("]")[0] + "]"  # fmt: skip
        if allowed_hosts is not None and host not in allowed_hosts:
            abort(403)

    @app.after_request
    def _headers(response):
        response.headers["Content-Security-Policy"] = POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/")
    def page():
        return send_from_directory(STATIC, "index.html")

    @app.get("/favicon.ico")
    def favicon():
        return "", 204

    @app.get("/static/<path:name>")
    def static_file(name: str):
        return send_from_directory(STATIC, name)  # safe_join: '..' and absolute paths are 404

    @app.get("/api/run")
    def run():
        return jsonify(session.listing())

    @app.get("/api/scene/<int:index>")
    def scene(index: int):
        return _answer(lambda: session.detail(index))

    @app.get("/api/scene/<int:index>/picture.png")
    def picture(index: int):
        try:
            png = session.picture(index)
        except KeyError:
            abort(404)
        except GlacierfrontError as err:
            return jsonify({"error": str(err)}), 422
        if png is None:
            abort(404)
        return app.response_class(png, mimetype="image/png")

    @app.post("/api/scene/<int:index>/verdict")
    def verdict(index: int):
        body = request.get_json(silent=True) if request.is_json else None
        if not isinstance(body, dict):
            return jsonify({"error": "send the verdict as a JSON object"}), 415
        revision = body.get("revision")
        if revision is not None and not isinstance(revision, int):
            return jsonify({"error": "revision: a whole number"}), 400
        kind = body.get("verdict")
        if not isinstance(kind, str):
            return jsonify({"error": "verdict: accepted, rejected, redrawn or empty"}), 400
        return _answer(lambda: session.judge(index, kind, revision, body.get("line")))

    @app.get("/api/series")
    def series():
        return jsonify(session.series())

    return app


def _answer(work) -> Any:
    try:
        return jsonify(work())
    except KeyError:
        abort(404)
    except GlacierfrontError as err:
        return jsonify({"error": str(err)}), 400


class ReviewServer:
    """The app on a Werkzeug server in a thread of its own: ``url`` once started, ``stop()`` to end it."""

    def __init__(self, session: ReviewSession, host: str = "127.0.0.1", port: int = 0):
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request on stderr
        loopback = host in LOOPBACK
        self._server = make_server(host, port, create_app(session, LOOPBACK if loopback else None),
                                   threaded=True)  # fmt: skip
        self.host = host
        self.port = self._server.server_port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def start(self) -> ReviewServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
