"""The review page in a real browser: Debian's headless Chromium, driven by Selenium over chromedriver.

`make test` (and `.ci/run`) install chromium and chromium-driver where they are missing; without them these
tests are skipped with the command that installs them. Nothing is downloaded: Selenium is pointed at
/usr/bin/chromium and /usr/bin/chromedriver, and Chromium is started without its background networking.

With GLACIERFRONT_SCREENSHOTS=1 (`make screenshots`) the pictures in docs/review.md are written to
docs/images/review/; otherwise they go to the test's temporary folder, so every run still takes them.
"""

from __future__ import annotations

import csv
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely

from glacierfront.data import SAMPLE_SERIES_DIR
from glacierfront.review.run import open_run
from glacierfront.review.server import ReviewServer
from glacierfront.review.session import Extras, ReviewSession

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
DOCS_IMAGES = Path(__file__).resolve().parents[1] / "docs" / "images" / "review"
BOX = SAMPLE_SERIES_DIR / "box.gpkg"
REF = SAMPLE_SERIES_DIR / "reference_fronts.gpkg"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="no chromium/chromedriver: apt-get install chromium chromium-driver (make test does it)",
)


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never look for a driver online
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,900"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def served(sample_run):
    """The bundled sample run with its box and reference fronts, on a free port of 127.0.0.1."""
    session = ReviewSession(open_run(sample_run), "tester", Extras(box=BOX, reference=REF))
    server = ReviewServer(session).start()
    yield server, session, sample_run
    server.stop()


def shot(driver, name: str, tmp_path: Path) -> Path:
    folder = DOCS_IMAGES if os.environ.get("GLACIERFRONT_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    driver.save_screenshot(str(path))
    return path


def wait(driver, script: str, timeout: float = 15.0):
    """Poll ``script`` (JavaScript returning a value) until it is truthy; its value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def open_page(driver, url: str) -> None:
    driver.get(url)
    wait(driver, "return document.body.dataset.ready === '1'")


def press(driver, key: str) -> None:
    ActionChains(driver).send_keys(key).perform()


def idle(driver) -> None:
    """Wait until every key's work (its verdict's write included) has finished."""
    driver.execute_script("window.__idle = false; state.queue.then(() => { window.__idle = true; });")
    wait(driver, "return window.__idle === true")


def selected(driver) -> int:
    return int(driver.execute_script("return state.current"))


def csv_rows(run: Path) -> dict[str, dict[str, str]]:
    path = run / "review.csv"
    if not path.exists():
        return {}
    with open(path, newline="") as fh:
        return {row["scene"]: row for row in csv.DictReader(fh)}


def test_the_page_loads_the_sample_run(browser, served, tmp_path):
    server, session, _ = served
    open_page(browser, server.url)
    rows = browser.find_elements(By.CSS_SELECTOR, "#scenes tbody tr")
    assert len(rows) == 8
    assert rows[0].find_elements(By.TAG_NAME, "td")[0].text == "2009-04-16"
    assert session.run.scenes[0].name in browser.find_element(By.ID, "title").text
    wait(
        browser,
        "const i = document.querySelector('img.scene-picture'); return i && i.complete && i.naturalWidth",
    )
    assert browser.execute_script("return document.querySelector('img.scene-picture').naturalWidth") == 256
    assert browser.find_elements(By.CSS_SELECTOR, "path.predicted-line")
    assert int(browser.find_element(By.ID, "series").get_attribute("data-points")) == 8
    shot(browser, "review_page.png", tmp_path)


def test_accept_and_reject_by_key(browser, served):
    server, session, run = served
    open_page(browser, server.url)
    first, second = session.run.scenes[0].name, session.run.scenes[1].name
    press(browser, "a")
    idle(browser)
    assert csv_rows(run)[first]["verdict"] == "accepted"
    assert selected(browser) == 1  # a verdict moves on
    press(browser, "r")
    idle(browser)
    assert csv_rows(run)[second]["verdict"] == "rejected"
    row = browser.find_elements(By.CSS_SELECTOR, "#scenes tbody tr")[1]
    assert row.find_element(By.CSS_SELECTOR, "td.verdict").text == "rejected"
    press(browser, "k")
    idle(browser)
    assert selected(browser) == 1
    press(browser, "u")  # undo the reject
    idle(browser)
    assert csv_rows(run)[second]["verdict"] == ""


def test_the_series_plot_changes_after_a_reject(browser, served, tmp_path):
    server, _, _ = served
    open_page(browser, server.url)
    plot = browser.find_element(By.ID, "series")
    assert plot.get_attribute("data-points") == "8"
    press(browser, "j")
    press(browser, "j")
    idle(browser)
    before = {c.get_attribute("data-index") for c in plot.find_elements(By.TAG_NAME, "circle")}
    press(browser, "r")
    idle(browser)
    after = {c.get_attribute("data-index") for c in plot.find_elements(By.TAG_NAME, "circle")}
    assert plot.get_attribute("data-points") == "7" and before - after == {"2"}
    # one click from a point of the plot to its scene
    browser.find_element(By.CSS_SELECTOR, '#series circle[data-index="5"]').click()
    idle(browser)
    assert selected(browser) == 5
    shot(browser, "review_series.png", tmp_path)


def _map_pixels(driver, points: list[tuple[int, int]]) -> list[list[float]]:
    """The scene pixels (col, row) under container points of the map, as the page computes them."""
    return driver.execute_script(
        "return arguments[0].map(([x, y]) => { const ll = map.containerPointToLatLng([x, y]); return [ll.lng, -ll.lat]; });",
        points,
    )


def test_a_redraw_is_saved_and_read_back_in_the_scenes_crs(browser, served, tmp_path):
    server, session, run = served
    open_page(browser, server.url)
    name = session.run.scenes[0].name
    press(browser, "d")
    idle(browser)
    element = browser.find_element(By.ID, "map")
    size = element.size
    clicks = [
        (int(size["width"] * fx), int(size["height"] * fy))
        for fx, fy in ((0.45, 0.3), (0.5, 0.5), (0.47, 0.7))
    ]
    expected_px = np.array(_map_pixels(browser, clicks))
    for x, y in clicks:
        ActionChains(browser).move_to_element_with_offset(element, x - size["width"] // 2,
                                                          y - size["height"] // 2).click().perform()  # fmt: skip
    clicked = np.array(browser.execute_script("return state.editor.parts[0].map((ll) => [ll.lng, -ll.lat])"))
    assert len(clicked) == 3
    scale = browser.execute_script("return 1 / map.getZoomScale(map.getZoom(), 0)")  # scene px per screen px
    np.testing.assert_allclose(
        clicked, expected_px, atol=scale
    )  # where the clicks were aimed, to a screen px
    shot(browser, "review_redraw.png", tmp_path)
    press(browser, "\ue007")  # Enter
    idle(browser)
    row = csv_rows(run)[name]
    assert row["verdict"] == "redrawn" and row["crs"] == "EPSG:3413"
    saved = shapely.get_coordinates(shapely.from_wkt(row["geometry_wkt"]))
    with rasterio.open(SAMPLE_SERIES_DIR / f"{name}.tif") as src:
        expected = np.array([src.transform @ tuple(p) for p in clicked])
    np.testing.assert_allclose(saved, expected, atol=1e-6 * src.res[0])  # the scene's grid, exactly
    drawn = browser.execute_script("return state.detail.redrawn")  # read back from the server
    np.testing.assert_allclose(drawn[0], clicked, atol=1e-3)
    assert browser.find_elements(By.CSS_SELECTOR, "path.redrawn-line")


def test_editing_a_vertex_moves_only_that_vertex(browser, served):
    server, session, run = served
    open_page(browser, server.url)
    name = session.run.scenes[0].name
    predicted = browser.execute_script("return state.detail.predicted")
    press(browser, "e")
    idle(browser)
    vertices = browser.find_elements(By.CSS_SELECTOR, ".vertex")
    assert len(vertices) == sum(len(p) for p in predicted)
    ActionChains(browser).drag_and_drop_by_offset(vertices[0], 40, 0).perform()
    press(browser, "\ue007")
    idle(browser)
    saved = shapely.get_coordinates(shapely.from_wkt(csv_rows(run)[name]["geometry_wkt"]))
    with rasterio.open(SAMPLE_SERIES_DIR / f"{name}.tif") as src:
        original = np.array([src.transform @ tuple(p) for p in predicted[0]])
    moved = np.linalg.norm(saved - original, axis=1) > src.res[0] * 0.5
    assert moved.tolist() == [True] + [False] * (len(original) - 1)


def test_reload_resumes_the_verdicts(browser, served):
    server, _, _ = served
    open_page(browser, server.url)
    press(browser, "a")
    press(browser, "r")
    idle(browser)
    browser.refresh()
    wait(browser, "return document.body.dataset.ready === '1'")
    cells = [
        r.find_element(By.CSS_SELECTOR, "td.verdict").text
        for r in browser.find_elements(By.CSS_SELECTOR, "#scenes tbody tr")
    ]
    assert cells[:3] == ["accepted", "rejected", ""]
    assert selected(browser) == 2  # the first scene not yet reviewed


def test_two_tabs_do_not_lose_each_others_edits_silently(browser, served):
    server, session, run = served
    open_page(browser, server.url)
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    open_page(browser, server.url)
    press(browser, "a")  # tab 2 accepts scene 0
    idle(browser)
    browser.close()
    browser.switch_to.window(first)
    press(browser, "r")  # tab 1 still shows scene 0 unreviewed, and rejects it
    idle(browser)
    warning = browser.find_element(By.ID, "warning").text
    assert "changed meanwhile" in warning and "accepted" in warning
    assert csv_rows(run)[session.run.scenes[0].name]["revision"] == "2"


def test_markup_in_a_scene_name_is_shown_as_text(browser, tmp_path):
    from test_review import INJECTION, injected_run

    run = injected_run(tmp_path)
    server = ReviewServer(ReviewSession(open_run(run), "tester")).start()
    try:
        open_page(browser, server.url)
        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert.text  # noqa: B018
        cell = browser.find_element(By.CSS_SELECTOR, "#scenes tbody tr td.name")
        assert cell.text == INJECTION
        assert (
            browser.execute_script("return document.querySelectorAll('#scenes img, #title img').length") == 0
        )
        assert "<script>alert(2)</script>" in browser.find_element(By.ID, "title").text
    finally:
        server.stop()
