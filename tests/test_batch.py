"""Batch prediction: many scenes in-process or on a real Dask LocalCluster, the manifest, resuming, URLs.

One two-worker cluster serves the module (processes are slow to start); one test starts its own through
``--workers 2``, as a user would.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import http.server
import io
import logging
import os
import re
import subprocess
import sys
import textwrap
import threading

import pytest
import rasterio
from fakes import glacier_scene, threshold_model
from rasterio.errors import RasterioIOError

from glacierfront.batch import BatchOptions, predict_many
from glacierfront.batch.manifest import FIELDS, ManifestWriter, read_states
from glacierfront.batch.sources import scene_source
from glacierfront.cli import main
from glacierfront.errors import GlacierfrontError
from glacierfront.io.vector_files import read_lines
from glacierfront.predict.outputs import plan_outputs


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return threshold_model(tmp_path_factory.mktemp("model") / "threshold.onnx")


@pytest.fixture(scope="module")
def client():
    """A Dask client on two worker processes of one thread each."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _scenes(folder, n, prefix="s"):
    return [glacier_scene(folder / f"{prefix}{i}.tif", front_col=150 + 20 * i) for i in range(n)]


def _truncated(path, like):
    """A GeoTIFF whose header is intact but whose tiles are cut off: opening works, reading fails."""
    with rasterio.open(like) as src:
        profile, data = src.profile, src.read()
    profile.update(tiled=True, blockxsize=64, blockysize=64, compress="deflate")
    whole = path.with_name(f"whole_{path.name}")
    with rasterio.open(whole, "w", **profile) as dst:
        dst.write(data)
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    whole.unlink()
    return path


def _rows(manifest):
    with open(manifest, newline="") as fh:
        return list(csv.DictReader(fh))


def _predict(scenes, model, out, *extra):
    return main(["predict", *map(str, scenes), "-m", str(model), "-o", str(out), "-q", *extra])


def test_six_scenes_on_two_workers_one_corrupt_fails_alone(model, tmp_path, capfd):
    pytest.importorskip("distributed")
    scenes = _scenes(tmp_path, 5)
    bad = _truncated(tmp_path / "cut.tif", scenes[0])
    scenes.insert(3, bad)
    out = tmp_path / "out"
    assert _predict(scenes, model, f"{out}/", "--workers", "2") == 1
    assert sorted(p.name for p in out.glob("*.gpkg")) == [f"s{i}.gpkg" for i in range(5)]
    rows = _rows(out / "manifest.csv")
    assert {r["scene"]: r["status"] for r in rows} == {
        **{str(s): "ok" for s in scenes if s != bad},
        str(bad): "failed",
    }
    failed = next(r for r in rows if r["status"] == "failed")
    assert "cut.tif: reading it failed" in failed["error"] and "damaged or truncated" in failed["error"]
    assert all(r["worker"].startswith("tcp://") for r in rows)
    assert all(r["lines"] == "1" for r in rows if r["status"] == "ok")
    # Worker processes write to this process's stderr too: no traceback anywhere, one line for the failure.
    err = capfd.readouterr().err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if "error" in line.lower()] == [
        f"glacierfront: error: {failed['error']}"
    ]


def test_a_worker_that_dies_mid_scene_has_the_scene_run_again(client, model, tmp_path):
    from glacierfront.batch.dask_run import EXIT_ONCE_ENV

    marker = tmp_path / "exited"
    scenes = _scenes(tmp_path, 3)
    out = tmp_path / "out"
    client.run(lambda: os.environ.__setitem__(EXIT_ONCE_ENV, str(marker)))
    try:
        assert _predict(scenes, model, f"{out}/", "--scheduler", client.scheduler.address) == 0
    finally:
        client.run(lambda: os.environ.pop(EXIT_ONCE_ENV, None))
    killed = marker.read_text()  # the scene whose worker ended itself
    assert killed in {str(s) for s in scenes}
    assert {r["scene"]: r["status"] for r in _rows(out / "manifest.csv")} == {str(s): "ok" for s in scenes}
    assert sorted(p.name for p in out.glob("*.gpkg")) == ["s0.gpkg", "s1.gpkg", "s2.gpkg"]


def test_skip_existing_rewrites_nothing(client, model, tmp_path):
    scenes = _scenes(tmp_path, 3)
    out, zones, looks = tmp_path / "out", tmp_path / "zones", tmp_path / "looks"
    args = ["--scheduler", client.scheduler.address, "--zones", f"{zones}/", "--quicklook", f"{looks}/"]
    assert _predict(scenes, model, f"{out}/", *args) == 0
    outputs = sorted([*out.iterdir(), *zones.iterdir(), *looks.iterdir()])
    assert len(outputs) == 10  # 3 x (fronts, zones, quicklook) and the manifest
    before = {p: p.stat().st_mtime_ns for p in outputs if p.name != "manifest.csv"}
    assert _predict(scenes, model, f"{out}/", *args, "--skip-existing") == 0
    assert sorted([*out.iterdir(), *zones.iterdir(), *looks.iterdir()]) == outputs
    assert {p: p.stat().st_mtime_ns for p in before} == before
    rows = _rows(out / "manifest.csv")
    assert [r["status"] for r in rows] == ["ok"] * 3 + ["skipped"] * 3
    assert read_states(out / "manifest.csv") == {str(s): "ok" for s in scenes}


def test_skip_existing_runs_unfinished_scenes_and_leaves_their_outputs_to_overwrite(model, tmp_path, capsys):
    a, b = _scenes(tmp_path, 2)
    c = _truncated(tmp_path / "c.tif", a)
    out = tmp_path / "out"
    assert _predict([a, b, c], model, f"{out}/", "--manifest", str(tmp_path / "m.csv")) == 1
    assert sorted(p.name for p in out.iterdir()) == ["s0.gpkg", "s1.gpkg"]
    assert read_states(tmp_path / "m.csv") == {str(a): "ok", str(b): "ok", str(c): "failed"}
    glacier_scene(c)  # fetched again, whole
    (out / "s1.gpkg").unlink()  # an output lost since
    kept = (out / "s0.gpkg").stat().st_mtime_ns
    # Without a manifest that says they are done, existing outputs fall under the overwrite rule.
    capsys.readouterr()
    assert (
        _predict([a, b, c], model, f"{out}/", "--skip-existing", "--manifest", str(tmp_path / "n.csv")) == 1
    )
    assert "s0.gpkg: already holds layer 'fronts'; pass --overwrite" in capsys.readouterr().err
    assert (
        _predict([a, b, c], model, f"{out}/", "--skip-existing", "--manifest", str(tmp_path / "m.csv")) == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["c.gpkg", "s0.gpkg", "s1.gpkg"]
    assert (out / "s0.gpkg").stat().st_mtime_ns == kept
    assert [r["status"] for r in _rows(tmp_path / "m.csv")][3:] == ["skipped", "ok", "ok"]


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files that answer single-range GETs with 206, as GDAL's /vsicurl/ needs: Python's own handler
    sends every GET whole, and GDAL then refuses a file of any size ("Range downloading not supported by
    this server!"). Each request's method and Range header go to ``server.seen``."""

    def log_message(self, *args):
        pass

    def send_head(self):
        wanted = self.headers.get("Range")
        self.server.seen.append((self.command, wanted))
        path = self.translate_path(self.path)
        found = re.fullmatch(r"bytes=(\d+)-(\d*)", (wanted or "").strip())
        if self.command != "GET" or not found or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        start = int(found[1])
        end = min(int(found[2]) if found[2] else size - 1, size - 1)
        if start >= size:
            self.send_error(416)
            return None
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return io.BytesIO(data)


@pytest.fixture
def web(tmp_path):
    """A folder served on 127.0.0.1 with range requests: (folder, base URL, requests seen)."""
    folder = tmp_path / "www"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(RangeHandler, directory=folder)
    )
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_port}", server.seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("where", ["in-process", "dask"])
def test_a_scene_over_http_is_read_with_range_requests(model, tmp_path, web, where, request):
    folder, base, seen = web
    scene = glacier_scene(folder / "remote_2020-07-01.tif", height=600, width=600, front_col=300)
    listing = tmp_path / "scenes.txt"
    listing.write_text(f"# scenes to run\n\n/vsicurl/{base}/remote_2020-07-01.tif\n")
    out = tmp_path / "out"
    extra = ["--scheduler", request.getfixturevalue("client").scheduler.address] if where == "dask" else []
    assert (
        main(["predict", "--from-list", str(listing), "-m", str(model), "-o", f"{out}/", "-q", *extra]) == 0
    )
    records, _ = read_lines(out / "remote_2020-07-01.gpkg")
    assert len(records) == 1
    assert records[0][1]["scene"] == "remote_2020-07-01" and records[0][1]["date"] == "2020-07-01"
    gets = [rng for method, rng in seen if method == "GET"]
    assert gets and all(gets), "every GET asks for a byte range: the scene is never downloaded whole"
    assert scene.stat().st_size > 300_000  # larger than the first range GDAL asks for


def test_one_output_file_gathers_every_scene_s_lines(client, model, tmp_path):
    scenes = _scenes(tmp_path, 3)
    out = tmp_path / "all.gpkg"
    manifest = tmp_path / "m.csv"
    args = ["--scheduler", client.scheduler.address, "--manifest", str(manifest)]
    assert _predict(scenes, model, out, *args) == 0
    records, _ = read_lines(out)
    assert [props["scene"] for _, props in records] == ["s0", "s1", "s2"]  # input order
    assert [round(geom.bounds[0]) for geom, _ in records] == [-200_000 + 20 * c for c in (150, 170, 190)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.gpkg", "m.csv", "s0.tif", "s1.tif", "s2.tif"]
    assert [r["status"] for r in _rows(manifest)] == ["ok"] * 3


def test_without_dask_the_in_process_loop_runs(model, tmp_path):
    """Dask made unimportable in a fresh interpreter: the plain loop and predict_many work, --workers says
    what to install."""
    a, b = _scenes(tmp_path, 2)
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["dask"] = sys.modules["distributed"] = None  # import dask -> ImportError
        from glacierfront.batch import predict_many
        from glacierfront.cli import main
        common = ["-m", {str(model)!r}, "-q"]
        plain = main(["predict", {str(a)!r}, {str(b)!r}, "-o", {f"{tmp_path}/out/"!r}, "--manifest",
                      {str(tmp_path / "m.csv")!r}, *common])
        api = [o.status for o in predict_many([{str(a)!r}], {str(model)!r})]
        dask = main(["predict", {str(a)!r}, "-o", {f"{tmp_path}/dask/"!r}, "--workers", "2", *common])
        print(plain, api, dask)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines()[-1] == "0 ['ok'] 1", done.stderr
    assert "Traceback" not in done.stderr
    assert [line for line in done.stderr.splitlines() if "error" in line] == [
        "glacierfront: error: --workers runs the scenes on Dask, which is not installed: "
        "pip install 'glacierfront[dask]'"
    ]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["s0.gpkg", "s1.gpkg"]
    assert [r["status"] for r in _rows(tmp_path / "m.csv")] == ["ok", "ok"]


def test_a_failure_that_may_pass_is_retried_on_dask_and_a_verdict_is_not(client, model, tmp_path):
    good = glacier_scene(tmp_path / "good.tif")
    cut = _truncated(tmp_path / "cut.tif", good)
    junk = tmp_path / "junk.tif"
    junk.write_text("not a raster")
    for retries, expected in ((1, 2), (0, 1)):
        options = BatchOptions(retries=retries)
        got = {
            o.scene: (o.status, o.attempts) for o in predict_many([good, cut, junk], model, options, client)
        }
        assert got == {"good": ("ok", 1), "cut": ("failed", expected), "junk": ("failed", 1)}


def test_a_read_error_is_retried_in_process(model, tmp_path, monkeypatch):
    import glacierfront.batch.worker as worker

    scene = glacier_scene(tmp_path / "a.tif")
    real, calls = worker.predict_scene, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RasterioIOError("HTTP response code: 503")
        return real(*args, **kwargs)

    monkeypatch.setattr(worker, "predict_scene", flaky)
    [outcome] = predict_many([scene], model)
    assert (outcome.status, outcome.attempts, outcome.lines) == ("ok", 2, 1)
    assert outcome.records and outcome.records[0][1]["scene"] == "a"


def test_each_worker_loads_the_model_once_and_refuses_another_file(client, model, tmp_path):
    from glacierfront.batch import dask_run, worker

    scenes = _scenes(tmp_path, 4)
    plan = plan_outputs(scenes, tmp_path / "out")
    plan.make_folders()
    assert [o.status for o in predict_many(scenes, model, BatchOptions(plan=plan), client)] == ["ok"] * 4
    per_worker = client.run(lambda: len(worker._BACKENDS))
    assert set(per_worker.values()) <= {0, 1} and sum(per_worker.values()) >= 1
    wrong = worker.ModelRef(str(model), "0" * 64)
    with pytest.raises(GlacierfrontError, match="give every worker the same model file"):
        list(dask_run.run_on_client([scene_source(scenes[0])], wrong, BatchOptions(), client))


def test_the_manifest_keeps_the_last_real_state_and_refuses_a_foreign_csv(tmp_path):
    from glacierfront.batch import SceneOutcome

    path = tmp_path / "m.csv"
    with ManifestWriter(path) as log:
        log.write(SceneOutcome("/a.tif", "a", 0, "failed", error="boom\nsecond line"))
        log.write(SceneOutcome("/a.tif", "a", 0, "ok", 2, 1.5, "local"))
        log.write(SceneOutcome("/a.tif", "a", 0, "skipped"))
        log.write(SceneOutcome("/b.tif", "b", 1, "no_front", 0, 1.0, "local"))
    with open(path, "a") as fh:
        fh.write("/b.tif,ok,1")  # a row cut short by a kill
    assert read_states(path) == {"/a.tif": "ok", "/b.tif": "no_front"}
    assert _rows(path)[0]["error"] == "boom second line"
    assert path.read_text().splitlines()[0] == ",".join(FIELDS)
    foreign = tmp_path / "other.csv"
    foreign.write_text("id,value\n1,2\n")
    with pytest.raises(GlacierfrontError, match="not a glacierfront manifest"):
        ManifestWriter(foreign)


def test_urls_become_gdal_paths_named_after_their_file():
    https = scene_source("https://example.org/data/S1_2020-01-02.tif?token=a/b")
    assert https.uri == "/vsicurl/https://example.org/data/S1_2020-01-02.tif?token=a/b"
    assert (https.stem, https.remote) == ("S1_2020-01-02", True)
    s3 = scene_source("s3://bucket/key/T_2021.tif")
    assert (s3.uri, s3.stem) == ("/vsis3/bucket/key/T_2021.tif", "T_2021")
    assert scene_source("/vsicurl/http://h/x.tif").uri == "/vsicurl/http://h/x.tif"
    local = scene_source("rel/scene.tif")
    assert local.uri == os.path.abspath("rel/scene.tif") and not local.remote
    with pytest.raises(GlacierfrontError, match="unknown URL scheme"):
        scene_source("nope://x.tif")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "give one"),
        (["--skip-existing"], "--skip-existing resumes a run that writes one file per scene"),
        (["--manifest", "m.txt"], "name it *.csv"),
    ],
)
def test_contradictory_batch_options_are_refused_before_any_work(model, tmp_path, capsys, extra, message):
    scene = glacier_scene(tmp_path / "a.tif")
    extra = [str(tmp_path / e) if e == "m.txt" else e for e in extra]  # nothing lands in the current folder
    assert _predict([scene], model, tmp_path / "f.gpkg", *extra) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "f.gpkg").exists()


def test_no_scenes_at_all_is_refused(model, tmp_path, capsys):
    listing = tmp_path / "empty.txt"
    listing.write_text("# nothing yet\n")
    assert main(["predict", "--from-list", str(listing), "-m", str(model), "-o", f"{tmp_path}/out/"]) == 1
    assert "no scenes" in capsys.readouterr().err


@pytest.fixture
def silent_server():
    """A server on 127.0.0.1 that accepts connections and never answers."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held = []

    def accept():
        with contextlib.suppress(OSError):
            while True:
                held.append(sock.accept())

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_a_server_that_never_answers_fails_its_scene_instead_of_hanging(
    model, tmp_path, silent_server, monkeypatch, capsys
):
    """GDAL waits for ever on a silent server unless told otherwise: the stall limit of REMOTE_DEFAULTS
    (shortened here) ends the read, the scene fails alone and the next one runs."""
    from glacierfront.batch import sources

    assert int(sources.REMOTE_DEFAULTS["GDAL_HTTP_LOW_SPEED_TIME"]) <= 300  # a stall limit by default
    monkeypatch.setitem(sources.REMOTE_DEFAULTS, "GDAL_HTTP_LOW_SPEED_TIME", "2")
    monkeypatch.setitem(sources.REMOTE_DEFAULTS, "GDAL_HTTP_MAX_RETRY", "0")
    for name in ("GDAL_HTTP_LOW_SPEED_TIME", "GDAL_HTTP_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "in").mkdir()
    local = _scenes(tmp_path / "in", 1)[0]
    finished = []

    def run():
        args = ["predict", f"{silent_server}/hang.tif", str(local), "-m", str(model), "-o", f"{tmp_path}/out/",
                "-q", "--retries", "0"]  # fmt: skip
        finished.append(main(args))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(120)  # generous: the stall limit is 2 s; without it this thread never ends
    assert finished == [1], "predict hung on a server that never answers"
    err = capsys.readouterr().err
    assert "hang.tif" in err and "too slow" in err
    assert (tmp_path / "out" / f"{local.stem}.gpkg").exists()


class BrokenHandler(http.server.BaseHTTPRequestHandler):
    """Answers every request as its path says: /404..., /500..., /garbage... (200 with bytes that are no
    GeoTIFF), /norange... (200 with the whole body, ignoring Range)."""

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.do_GET(body=False)

    def do_GET(self, body=True):
        kind = self.path.strip("/").split("_")[0]
        if kind in ("404", "500"):
            self.send_error(int(kind))
            return
        data = b"this is not a GeoTIFF " * 2000
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)


def test_broken_urls_fail_alone_in_process_and_the_batch_goes_on(model, tmp_path, capsys):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BrokenHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    (tmp_path / "in").mkdir()
    local = _scenes(tmp_path / "in", 1)[0]
    listing = tmp_path / "scenes.txt"
    urls = [f"{base}/{kind}_scene.tif" for kind in ("404", "500", "garbage", "norange")]
    listing.write_text("\n".join([*urls, str(local)]) + "\n")
    out = tmp_path / "out"
    try:
        rc = main(["predict", "--from-list", str(listing), "-m", str(model), "-o", f"{out}/", "-q",
                   "--retries", "0", "--manifest", str(tmp_path / "m.csv")])  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err
    assert rc == 1 and "internal error" not in err
    rows = _rows(tmp_path / "m.csv")
    assert [r["status"] for r in rows] == ["failed"] * 4 + ["ok"]
    assert (out / f"{local.stem}.gpkg").exists()


@pytest.mark.parametrize(
    "cut",
    ["/b.tif,ok,1", '"s3://bucket/b,1.tif",ok,3,1.2', '"s3://bucket/b,1', "/b.tif,ok,1,0.50,local,"],
    ids=["mid-row", "after-a-quoted-field", "inside-a-quoted-field", "before-its-newline"],
)
def test_a_manifest_cut_mid_row_gets_its_broken_row_dropped_before_the_next_run_appends(tmp_path, cut):
    from glacierfront.batch import SceneOutcome

    path = tmp_path / "m.csv"
    with ManifestWriter(path) as log:
        log.write(SceneOutcome("/a.tif", "a", 0, "ok", 2, 1.5, "local"))
    whole = path.read_bytes()
    with open(path, "a", newline="") as fh:
        fh.write(cut)  # the writer was killed here
    with ManifestWriter(path) as log:
        log.write(SceneOutcome("/c.tif", "c", 1, "no_front", 0, 1.0, "local"))
    assert read_states(path) == {"/a.tif": "ok", "/c.tif": "no_front"}
    assert path.read_bytes() == whole + b"/c.tif,no_front,0,1.00,local,\n"
    with open(path, newline="") as fh:
        assert all(len(row) == len(FIELDS) for row in csv.reader(fh))


def test_a_manifest_whose_header_was_cut_gets_a_whole_header_and_a_foreign_file_is_left_alone(tmp_path):
    from glacierfront.batch import SceneOutcome

    path = tmp_path / "m.csv"
    path.write_text("scene,stat")  # killed while writing the header
    with ManifestWriter(path) as log:
        log.write(SceneOutcome("/a.tif", "a", 0, "ok", 2, 1.5, "local"))
    assert path.read_text() == ",".join(FIELDS) + "\n/a.tif,ok,2,1.50,local,\n"
    foreign = tmp_path / "notes.csv"
    foreign.write_text("id,value\n1,2")  # no final newline, not a manifest: refused, never cut
    with pytest.raises(GlacierfrontError, match="not a glacierfront manifest"):
        ManifestWriter(foreign)
    assert foreign.read_text() == "id,value\n1,2"
