"""glacierfront review without a browser: the run, the verdict files, the routes' safety, the loop's ends.

The page itself, in headless Chromium, is tests/test_review_browser.py.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import fiona
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.warp import calculate_default_transform, reproject

from glacierfront.cli import main
from glacierfront.data import SAMPLE_SERIES_DIR
from glacierfront.errors import GlacierfrontError
from glacierfront.review.run import open_run
from glacierfront.review.server import create_app
from glacierfront.review.session import Extras, ReviewSession
from glacierfront.review.verdicts import CSV_FIELDS, read_verdicts
from glacierfront.train.finetune_data import FrontLine, match_lines

BOX = SAMPLE_SERIES_DIR / "box.gpkg"
REF = SAMPLE_SERIES_DIR / "reference_fronts.gpkg"


def _session(run: Path, **extras) -> ReviewSession:
    return ReviewSession(open_run(run), "tester", Extras(box=BOX, reference=REF, **extras))


def _csv_rows(run: Path) -> dict[str, dict[str, str]]:
    with open(run / "review.csv", newline="") as fh:
        return {row["scene"]: row for row in csv.DictReader(fh)}


def _gpkg(run: Path) -> list[tuple[object, dict]]:
    with fiona.open(run / "review.gpkg", layer="fronts") as src:
        return [(shapely.geometry.shape(f.geometry), dict(f.properties)) for f in src]


# -- the run ------------------------------------------------------------------------------------------------
def test_open_run_lists_every_scene_with_its_lines_fields(sample_run):
    run = open_run(sample_run)
    names = [s.name for s in run.scenes]
    assert names == sorted(p.stem for p in SAMPLE_SERIES_DIR.glob("*.tif"))  # date order
    first = run.scenes[0]
    assert first.image == (SAMPLE_SERIES_DIR / f"{first.name}.tif").resolve()
    assert first.date == "2009-04-16" and first.sensor == "TSX"
    assert first.quality and 0 < first.confidence <= 1 and first.length_m > 1000
    assert run.notes == []


def test_a_run_folder_without_manifest_asks_for_the_scenes(sample_run):
    (sample_run / "manifest.csv").unlink()
    with pytest.raises(GlacierfrontError, match="--scenes"):
        open_run(sample_run)
    scenes = sorted(SAMPLE_SERIES_DIR.glob("*.tif"))[:3]
    run = open_run(sample_run, scenes)
    assert sum(s.image is not None for s in run.scenes) == 3
    assert "5 of 8 scenes not found" in run.notes[0]


def test_one_line_file_with_scenes_is_matched_by_the_scene_field(tmp_path):
    scenes = sorted(map(str, SAMPLE_SERIES_DIR.glob("*.tif")))[:3]
    assert main(["predict", *scenes, "-o", str(tmp_path / "all.gpkg"), "-q"]) == 0
    run = open_run(tmp_path / "all.gpkg", [Path(s) for s in scenes])
    assert [s.name for s in run.scenes] == [Path(s).stem for s in scenes]
    assert all(s.fids and s.image is not None for s in run.scenes)
    assert run.folder == tmp_path


# -- verdicts -----------------------------------------------------------------------------------------------
def test_an_accepted_front_goes_to_both_files_with_predicts_fields(sample_run):
    session = _session(sample_run)
    name = session.run.scenes[0].name
    answer = session.judge(0, "accepted", revision=0)
    assert answer["verdict"]["verdict"] == "accepted" and answer["warning"] is None
    rows = _csv_rows(sample_run)
    assert list(rows) == [name] and rows[name]["verdict"] == "accepted" and rows[name]["reviewer"] == "tester"
    lines = _gpkg(sample_run)
    with fiona.open(sample_run / f"{name}.gpkg") as src:
        predicted = [dict(f.properties) for f in src]
    assert len(lines) == len(predicted)
    props = lines[0][1]
    assert props["verdict"] == "accepted" and props["reviewer"] == "tester"
    assert (
        props["confidence"] == predicted[0]["confidence"] and props["model_sha"] == predicted[0]["model_sha"]
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", props["reviewed_at"])


def test_a_rejected_front_is_in_the_csv_only(sample_run):
    session = _session(sample_run)
    session.judge(0, "accepted", 0)
    session.judge(1, "rejected", 0)
    assert {r["verdict"] for r in _csv_rows(sample_run).values()} == {"accepted", "rejected"}
    assert {p["scene"] for _, p in _gpkg(sample_run)} == {session.run.scenes[0].name}


def test_restart_resumes_and_rebuilds_the_geopackage(sample_run):
    session = _session(sample_run)
    session.judge(2, "accepted", 0)
    session.judge(3, "rejected", 0)
    (sample_run / "review.gpkg").unlink()  # as if killed between the two renames
    again = _session(sample_run)
    assert again.store.get(session.run.scenes[2].name).verdict == "accepted"
    assert again.store.get(session.run.scenes[3].name).revision == 1
    assert {p["scene"] for _, p in _gpkg(sample_run)} == {session.run.scenes[2].name}
    listing = {s["name"]: s["verdict"] for s in again.listing()["scenes"]}
    assert listing[session.run.scenes[3].name] == "rejected"


def test_a_stale_tab_wins_with_a_warning_that_names_what_it_replaced(sample_run):
    first, second = _session(sample_run), None
    first.judge(0, "accepted", revision=0)  # tab 1
    second = first  # both tabs talk to one server: the second still believes revision 0
    answer = second.judge(0, "rejected", revision=0)
    assert answer["warning"] and "accepted by tester" in answer["warning"]
    assert answer["verdict"]["revision"] == 2
    assert _csv_rows(sample_run)[first.run.scenes[0].name]["verdict"] == "rejected"
    assert first.judge(0, "accepted", revision=2)["warning"] is None


def test_undo_clears_a_verdict(sample_run):
    session = _session(sample_run)
    session.judge(0, "accepted", 0)
    session.judge(0, "", 1)
    row = _csv_rows(sample_run)[session.run.scenes[0].name]
    assert row["verdict"] == "" and row["revision"] == "2"
    assert _gpkg(sample_run) == []


def test_a_bad_verdict_or_line_is_refused_and_nothing_is_written(sample_run):
    session = _session(sample_run)
    for verdict, line in (("maybe", None), ("redrawn", None), ("redrawn", [[[1, 2]]]), ("redrawn", [[["a", 2], [3, 4]]]),
                          ("redrawn", [[[1, float("nan")], [3, 4]]])):  # fmt: skip
        with pytest.raises(GlacierfrontError):
            session.judge(0, verdict, 0, line)
    assert not (sample_run / "review.csv").exists()
    with pytest.raises(KeyError):
        session.judge(99, "accepted", 0)


def _utm_copy(src: Path, dst: Path) -> None:
    with rasterio.open(src) as s:
        transform, width, height = calculate_default_transform(
            s.crs, "EPSG:32622", s.width, s.height, *s.bounds
        )
        profile = {**s.profile, "crs": "EPSG:32622", "transform": transform, "width": width, "height": height}
        with rasterio.open(dst, "w", **profile) as d:
            reproject(rasterio.band(s, 1), rasterio.band(d, 1))
            d.update_tags(**s.tags())


def test_a_redrawn_line_is_saved_in_the_scenes_crs(tmp_path):
    scene = tmp_path / "JAC_2013-09-08_TSX_6_1_005.tif"
    _utm_copy(SAMPLE_SERIES_DIR / scene.name, scene)
    run = tmp_path / "run"
    assert main(["predict", str(scene), "-o", f"{run}/", "--manifest", str(run / "manifest.csv"), "-q"]) == 0
    session = ReviewSession(open_run(run), "tester")
    drawn = [[[10.5, 20.25], [100.0, 120.0], [180.0, 200.5]]]
    session.judge(0, "redrawn", 0, drawn)
    with rasterio.open(scene) as src:
        expected = np.array([src.transform @ (c, r) for c, r in drawn[0]])
    row = _csv_rows(run)[scene.stem]
    assert row["crs"] == "EPSG:32622"
    np.testing.assert_allclose(
        shapely.get_coordinates(shapely.from_wkt(row["geometry_wkt"])), expected, atol=1e-6
    )
    ((line, props),) = _gpkg(run)
    with fiona.open(run / "review.gpkg") as src:
        assert src.crs.to_epsg() == 32622
    np.testing.assert_allclose(shapely.get_coordinates(line), expected, atol=1e-6)
    assert props["verdict"] == "redrawn" and props["quality"] == "redrawn" and props["confidence"] is None
    assert props["length_m"] == pytest.approx(shapely.length(line), rel=0.01)  # UTM: ground ~ map metres
    back = session.detail(0)["redrawn"]
    np.testing.assert_allclose(back[0], drawn[0], atol=1e-3)  # and back on the page where it was drawn


# -- the series and fine-tuning ends of the loop --------------------------------------------------------------
def test_the_session_series_leaves_rejected_fronts_out(sample_run):
    session = _session(sample_run)
    before = session.series()
    assert before["error"] is None and len(before["rows"]) == 8
    session.judge(4, "rejected", 0)
    after = session.series()
    assert len(after["rows"]) == 7 and 4 not in {r["index"] for r in after["rows"]}


def test_series_on_the_review_file_uses_accepted_and_redrawn_fronts_only(sample_run, capsys):
    session = _session(sample_run)
    for i in range(8):
        session.judge(i, "rejected" if i in (1, 5) else "accepted", 0)
    session.judge(2, "redrawn", 1, [[[110, 100], [120, 150], [118, 200]]])
    out = sample_run / "series.csv"
    assert main(["series", str(sample_run / "review.gpkg"), "--box", str(BOX), "-o", str(out), "-q"]) == 0
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    names = {r["image_id"] for r in rows}
    assert (
        len(rows) == 6 and session.run.scenes[1].name not in names and session.run.scenes[5].name not in names
    )
    redrawn = next(r for r in rows if r["image_id"] == session.run.scenes[2].name)
    assert redrawn["source_quality"] == "redrawn"


def test_series_skips_lines_marked_rejected_in_any_file(sample_run):
    from glacierfront.series import read_fronts

    session = _session(sample_run)
    session.judge(0, "accepted", 0)
    records = _gpkg(sample_run)
    from glacierfront.io.vector_files import write_lines
    from glacierfront.review.verdicts import REVIEW_SCHEMA

    marked = [(g, {**p, "verdict": "rejected"}) for g, p in records] + records
    write_lines(sample_run / "marked.gpkg", marked, "EPSG:3413", REVIEW_SCHEMA)
    fronts = read_fronts([sample_run / "marked.gpkg"])
    assert len(fronts) == 1 and len(fronts[0].pieces) == len(records)


def test_finetune_takes_a_scenes_redrawn_line_before_its_others():
    scene = Path("JAC_2013-09-08_TSX_6_1_005.tif")
    line = shapely.LineString([(0, 0), (1, 1)])
    predicted = FrontLine(line, "a", scene.stem, None, "accepted")
    redrawn = FrontLine(line, "b", scene.stem, None, "redrawn")
    other = FrontLine(line, "c", "another", None, "redrawn")
    assert match_lines(scene, [predicted, redrawn, other]) == [redrawn]
    assert match_lines(scene, [predicted, other]) == [predicted]


def test_finetune_reads_review_file_without_its_rejected_lines(sample_run):
    from glacierfront.train.finetune_data import read_fronts

    session = _session(sample_run)
    session.judge(0, "accepted", 0)
    session.judge(1, "redrawn", 0, [[[110, 100], [120, 150]]])
    lines, _ = read_fronts(sample_run / "review.gpkg")
    assert {ln.verdict for ln in lines} == {"accepted", "redrawn"}
    assert {ln.scene for ln in lines} == {session.run.scenes[0].name, session.run.scenes[1].name}


# -- the routes ---------------------------------------------------------------------------------------------
@pytest.fixture
def client(sample_run):
    app = create_app(_session(sample_run))
    return app.test_client()


@pytest.mark.parametrize(
    "path",
    ["/static/../verdicts.py", "/static/%2e%2e/verdicts.py", "/static/..%2fverdicts.py", "/static//etc/passwd",
     "/static/%2fetc%2fpasswd", "/api/scene/../../etc/passwd", "/api/scene/-1", "/api/scene/8",
     "/api/scene/0/../../../../etc/passwd", "/etc/passwd", "/static/vendor/leaflet/../../../session.py"],
)  # fmt: skip
def test_no_path_reaches_a_file_outside_the_page(client, path):
    response = client.get(path, follow_redirects=True)
    assert response.status_code in (400, 404), (path, response.status_code)
    assert b"import" not in response.data and b"root:" not in response.data


def test_the_page_and_its_files_are_served_with_a_strict_policy(client):
    page = client.get("/")
    assert page.status_code == 200 and b"review.js" in page.data
    policy = page.headers["Content-Security-Policy"]
    assert (
        "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    )
    assert client.get("/static/vendor/leaflet/leaflet.js").status_code == 200
    assert client.get("/static/vendor/leaflet/LICENSE").status_code == 200


def test_a_request_for_another_host_is_refused(client):
    assert client.get("/api/run", headers={"Host": "attacker.example:80"}).status_code == 403
    assert client.get("/api/run", headers={"Host": "127.0.0.1:5000"}).status_code == 200


def test_a_verdict_must_come_as_json(client, sample_run):
    form = client.post("/api/scene/0/verdict", data={"verdict": "rejected"})
    assert form.status_code == 415
    plain = client.post("/api/scene/0/verdict", data='{"verdict": "rejected"}', content_type="text/plain")
    assert plain.status_code == 415
    assert not (sample_run / "review.csv").exists()
    ok = client.post("/api/scene/0/verdict", json={"verdict": "rejected", "revision": 0})
    assert ok.status_code == 200 and ok.get_json()["verdict"]["verdict"] == "rejected"
    bad = client.post("/api/scene/0/verdict", json={"verdict": "redrawn", "line": "x"})
    assert bad.status_code == 400 and "line" in bad.get_json()["error"]


def test_the_picture_is_the_scene_decimated(client):
    from io import BytesIO

    from PIL import Image

    response = client.get("/api/scene/0/picture.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert Image.open(BytesIO(response.data)).size == (256, 256)
    scene = client.get("/api/scene/0").get_json()
    assert scene["grid"] == {"width": 256, "height": 256, "has_image": True}
    assert scene["predicted"] and scene["boxes"] and scene["reference"]


INJECTION = "<img src=x onerror=alert(1)>"


def injected_run(tmp_path: Path) -> Path:
    """A run of one scene named with markup, and a quality field that is markup too."""
    scene = tmp_path / f"{INJECTION}.tif"
    shutil.copy(SAMPLE_SERIES_DIR / "JAC_2013-09-08_TSX_6_1_005.tif", scene)
    run = tmp_path / "run"
    assert main(["predict", str(scene), "-o", f"{run}/", "--manifest", str(run / "manifest.csv"), "-q"]) == 0
    path = next(run.glob("*.gpkg"))
    with fiona.open(path) as src:
        records = [(shapely.geometry.shape(f.geometry), {**dict(f.properties), "sensor": "<script>alert(2)</script>"})
                   for f in src]  # fmt: skip
    from glacierfront.io.vector_files import write_lines
    from glacierfront.predict.schema import LINE_SCHEMA

    write_lines(path, records, "EPSG:3413", LINE_SCHEMA)
    return run


def test_markup_in_names_and_fields_reaches_the_page_as_json_text_only(tmp_path):
    run = injected_run(tmp_path)
    client = create_app(ReviewSession(open_run(run), "tester")).test_client()
    listing = client.get("/api/run")
    assert listing.mimetype == "application/json"
    scene = listing.get_json()["scenes"][0]
    assert scene["name"] == INJECTION and scene["sensor"] == "<script>alert(2)</script>"
    assert INJECTION.encode() not in client.get("/").data  # the page is static: no data in its HTML
    script = (Path(__file__).resolve().parents[1] / "glacierfront/review/static/review.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "document.write" not in script


# -- the command --------------------------------------------------------------------------------------------
def _start(args: list[str], cwd: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "glacierfront", "review", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    line = proc.stdout.readline()
    match = re.search(r"review: (http://\S+)", line)
    if match is None:
        proc.kill()
        raise AssertionError(f"no URL printed: {line!r} {proc.stderr.read()}")
    return proc, match.group(1)


def _post(url: str, body: bytes) -> None:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()


def test_review_serves_on_loopback_and_stops_cleanly_on_ctrl_c(sample_run, tmp_path):
    proc, url = _start([str(sample_run), "--box", str(BOX), "--reviewer", "ann"], tmp_path)
    try:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "api/run", timeout=10) as response:
            assert b'"reviewer":"ann"' in response.read()
        _post(url + "api/scene/0/verdict", b'{"verdict": "accepted", "revision": 0}')
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "review stopped; verdicts in" in err and "Traceback" not in err
    assert _csv_rows(sample_run)[open_run(sample_run).scenes[0].name]["reviewer"] == "ann"


def test_another_host_is_said_loudly(sample_run, tmp_path):
    proc, _ = _start([str(sample_run), "--host", "0.0.0.0"], tmp_path)
    proc.kill()
    _, err = proc.communicate(timeout=20)
    assert "WARNING: listening on 0.0.0.0" in err


@pytest.mark.parametrize(
    "args, message",
    [(["nowhere/"], "no such file or folder"), (["{run}/x.gpkg"], "no such file"),
     (["{run}/JAC_2009-04-16_TSX_6_1_005.gpkg"], "give its scenes"), (["{run}", "--box", "nobox.gpkg"], "--box nobox.gpkg"),
     (["{run}", "--port", "99999"], "--port"), (["{run}", "--reviewer", " "], "--reviewer")],
)  # fmt: skip
def test_bad_input_is_one_line_and_no_server(sample_run, capsys, args, message):
    code = main(["review", *[a.format(run=sample_run) for a in args]])
    err = capsys.readouterr().err
    assert code != 0 and message in err and "Traceback" not in err
    assert not (sample_run / "review.csv").exists()


def test_kill_9_mid_save_leaves_each_file_whole(sample_run, tmp_path):
    """Verdicts stream in while the server is killed with SIGKILL, again and again: after each kill both files
    read whole, no acknowledged verdict is lost (each scene's revision counts every answered change, plus at
    most the one in flight), and the next server resumes from them."""
    rng = np.random.default_rng(0)
    answered = dict.fromkeys(range(8), 0)
    names = [s.name for s in open_run(sample_run).scenes]
    k = 0
    for _ in range(6):
        proc, url = _start([str(sample_run)], tmp_path)
        stop = threading.Event()

        def stream(url=url, stop=stop) -> None:
            nonlocal k
            while not stop.is_set():
                scene, verdict = k % 8, ("accepted", "rejected")[(k // 8) % 2]
                try:
                    _post(url + f"api/scene/{scene}/verdict", f'{{"verdict": "{verdict}"}}'.encode())
                except Exception:
                    return
                answered[scene] += 1
                k += 1

        worker = threading.Thread(target=stream)
        worker.start()
        time.sleep(0.3 + rng.random() * 0.7)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        stop.set()
        worker.join(timeout=20)
        verdicts = read_verdicts(sample_run / "review.csv")  # raises on a cut row
        for scene, count in answered.items():
            revision = verdicts[names[scene]].revision if names[scene] in verdicts else 0
            assert count <= revision <= count + 1, (scene, count, revision)
        _gpkg(sample_run)  # reads whole
        with open(sample_run / "review.csv") as fh:
            assert fh.readline().strip() == ",".join(CSV_FIELDS)
    assert sum(answered.values()) > 20
    session = _session(sample_run)  # resumes from what the last kill left, and clears its temporaries
    leftovers = [p.name for p in sample_run.iterdir() if p.name.startswith(".review")]
    assert session.store.verdicts == read_verdicts(sample_run / "review.csv")
    assert {p["scene"] for _, p in _gpkg(sample_run)} == {
        n for n, v in session.store.verdicts.items() if v.verdict == "accepted"
    }
    assert leftovers == [".review.lock"]


def test_a_second_review_of_one_run_is_refused(sample_run, tmp_path):
    proc, _ = _start([str(sample_run)], tmp_path)
    try:
        second = subprocess.run([sys.executable, "-m", "glacierfront", "review", str(sample_run)],
                                capture_output=True, text=True, timeout=60)  # fmt: skip
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert second.returncode == 1 and "another glacierfront review is running" in second.stderr


def test_the_fast_geopackage_listing_reads_what_gdal_reads(sample_run, tmp_path):
    from glacierfront.io.vector_files import feature_properties, read_lines, write_lines

    path = next(sample_run.glob("JAC_*.gpkg"))
    layer, crs, features = feature_properties(path)
    with fiona.open(path, layer="fronts") as src:
        expected = [(f.id, dict(f.properties)) for f in src]
        assert crs is not None and rasterio.crs.CRS.from_wkt(crs) == rasterio.crs.CRS.from_wkt(src.crs_wkt)
    assert layer == "fronts" and features == expected
    records, wkt = read_lines(path)
    geojson = write_lines(tmp_path / "same.geojson", records, wkt)
    _, _, through_gdal = feature_properties(geojson)
    assert [p for _, p in through_gdal] == [p for _, p in expected]


def test_the_loop_closes_predict_review_series_finetune(sample_run, tmp_path):
    """predict (the fixture) -> review (as the page's keys do) -> series and finetune on review.gpkg."""
    session = _session(sample_run)
    for i in range(8):
        session.judge(i, "rejected" if i == 1 else "accepted", 0)
    session.judge(5, "redrawn", 1, [[[120, 60], [118, 110], [125, 160], [128, 200]]])
    review = sample_run / "review.gpkg"
    assert main(["series", str(review), "--box", str(BOX), "-o", str(tmp_path / "s.csv"), "-q"]) == 0
    scenes = sorted(map(str, SAMPLE_SERIES_DIR.glob("*.tif")))
    out = tmp_path / "ft.onnx"
    code = main(["finetune", "--scenes", *scenes, "--fronts", str(review), "--aoi", str(BOX), "-o", str(out),
                 "--steps", "2", "-q"])  # fmt: skip
    assert code == 0 and out.is_file()
    card = out.with_suffix(".md").read_text()
    assert "7 scene(s)" in card  # the rejected scene is not trained on
