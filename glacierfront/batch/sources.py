"""Scenes as given to a batch: local files or GDAL URLs (/vsicurl/https://..., https://..., s3://...).

``predict_scene`` and ``io.raster.open_scene`` take local paths: they turn the scene into a ``Path`` (which
folds the ``//`` of a URL) and check that the file exists. A remote scene is therefore handed to them as a
small VRT file in a temporary folder that points at the URL (``readable``): the pixels are still read from
the URL, window by window, with HTTP range requests, and nothing is downloaded whole. Once those two accept
GDAL paths themselves, ``readable`` can hand them the URL directly.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from glacierfront.errors import GlacierfrontError

# URL schemes and the GDAL virtual file system that reads them.
SCHEMES = {"http": "/vsicurl/", "https": "/vsicurl/", "ftp": "/vsicurl/", "s3": "/vsis3/", "gs": "/vsigs/"}
SCHEMES.update({"az": "/vsiaz/", "abfs": "/vsiaz/"})
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://(.*)$")
# GDAL settings for remote scenes, unless the environment sets them: no listing of the URL's "folder" for
# sidecar files (a request per scene that at best finds nothing), HTTP 429/502/503/504 answers retried, and
# no request that hangs: 30 s to connect, and a transfer that moves less than 1 byte/s for 60 s is aborted
# (GDAL's default is to wait for ever on a server that accepts and never answers). A slow but moving
# transfer is never cut.
REMOTE_DEFAULTS = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "GDAL_HTTP_MAX_RETRY": "3"}
REMOTE_DEFAULTS["GDAL_HTTP_RETRY_DELAY"] = "1"
REMOTE_DEFAULTS["GDAL_HTTP_CONNECTTIMEOUT"] = "30"
REMOTE_DEFAULTS["GDAL_HTTP_LOW_SPEED_TIME"] = "60"
REMOTE_DEFAULTS["GDAL_HTTP_LOW_SPEED_LIMIT"] = "1"


def remote_env() -> dict[str, str]:
    """``REMOTE_DEFAULTS`` less what the environment sets (a ``rasterio.Env`` option would override it)."""
    return {k: v for k, v in REMOTE_DEFAULTS.items() if k not in os.environ}


@dataclass(frozen=True)
class SceneSource:
    """One scene of a batch. ``uri`` is what GDAL opens: an absolute local path or a /vsi... path."""

    uri: str

    @property
    def remote(self) -> bool:
        return self.uri.startswith("/vsi")

    @property
    def plan_path(self) -> Path:
        """A path with the scene's name, for output planning (``outputs.plan_outputs``)."""
        return Path(self.uri.split("?", 1)[0]) if self.remote else Path(self.uri)

    @property
    def stem(self) -> str:
        """The scene's name without suffix: its outputs are named after it."""
        return self.plan_path.stem

    @property
    def name(self) -> str:
        return PurePosixPath(self.plan_path).name

    def __str__(self) -> str:
        return self.uri


def scene_source(value: str | Path) -> SceneSource:
    """A scene as a ``SceneSource``: URLs become GDAL paths (https://h/x.tif -> /vsicurl/https://h/x.tif,
    s3://b/k.tif -> /vsis3/b/k.tif), GDAL paths stay, local paths become absolute."""
    text = str(value).strip()
    if not text:
        raise GlacierfrontError("an empty scene name; give a file path or a URL")
    found = _URL.match(text)
    if found:
        scheme = found.group(1).lower()
        if scheme == "file":
            return SceneSource(os.path.abspath(urlsplit(text).path))
        if scheme not in SCHEMES:
            raise GlacierfrontError(
                f"{text}: unknown URL scheme {scheme}://; use a path, http(s)://, s3://, gs://, az:// "
                "or a GDAL /vsi... path"
            )
        prefix = SCHEMES[scheme]
        rest = text if prefix == "/vsicurl/" else found.group(2)
        return SceneSource(prefix + rest)
    if text.startswith("/vsi"):
        return SceneSource(text)
    return SceneSource(os.path.abspath(text))


def read_scene_list(path: Path) -> list[str]:
    """--from-list: one scene per line (a path or a URL); blank lines and lines starting with # are skipped.

    Relative paths are taken from the current folder, as on the command line.
    """
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise GlacierfrontError(f"--from-list {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else "not a text file"
        raise GlacierfrontError(f"--from-list {path}: cannot read it ({reason})") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def scene_sources(values: Iterable[str | Path]) -> list[SceneSource]:
    return [scene_source(v) for v in values]


@contextlib.contextmanager
def readable(source: SceneSource) -> Iterator[Path]:
    """A local path that ``predict_scene`` can open for ``source``; the GDAL settings for URLs are active
    until the block ends. A local scene is its own path; a remote one is a VRT that points at its URL (see
    the module docstring), named after the scene so that the lines carry the scene's name. A URL that cannot
    be opened raises ``rasterio.errors.RasterioError``, which callers treat as a failure that may pass."""
    if not source.remote:
        yield Path(source.uri)
        return
    import rasterio
    import rasterio.shutil

    with tempfile.TemporaryDirectory(prefix="glacierfront-url-") as tmp, rasterio.Env(**remote_env()):
        vrt = Path(tmp) / f"{source.stem}.vrt"
        rasterio.shutil.copy(source.uri, vrt, driver="VRT")  # the header only: the pixels stay remote
        yield vrt


def read_failure(source: SceneSource, err: Exception | str) -> str:
    """What to say when GDAL could not read a scene (``RasterioError``)."""
    cause = getattr(err, "__cause__", None)
    if cause is not None and "previous exception" in str(err):  # rasterio's "Read failed. See previous..."
        err = cause
    reason = " ".join(str(err).split()) or type(err).__name__
    if source.remote:
        return (
            f"{source.uri}: reading it failed ({reason}); check the URL, that the server answers HTTP range "
            "requests, and credentials (e.g. AWS_* for s3://)"
        )
    return f"{source.uri}: reading it failed ({reason}); the file is damaged or truncated: fetch it again"
