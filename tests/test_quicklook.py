"""The quicklook PNG reads well: a legend with swatches that fits any width, a glacier tint that shows on
grey SAR, the AOI outlined, a scale bar when the pixel size is known, the lines' count and quality."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import GLACIER, glacier_scene
from PIL import Image
from shapely.geometry import LineString, box, mapping

from glacierfront.io.raster import open_scene
from glacierfront.predict.quicklook import (
    AOI_RGB,
    BAND_RGB,
    FRONT_RGB,
    SCALE_RGB,
    LegendItem,
    build_quicklook,
    caption_layout,
    render_quicklook,
    summary_text,
    tinted,
)
from glacierfront.predict.vectorise import FrontLine

ROCK_Z, GLACIER_Z, OCEAN_Z = 1, 2, 3


def zones_of(height: int, width: int, front_col: int, rock_rows: int) -> np.ndarray:
    zones = np.full((height, width), OCEAN_Z, np.uint8)
    zones[:, :front_col] = GLACIER_Z
    zones[:rock_rows] = ROCK_Z
    return zones


def front_line(scene, front_col: int, row0: int, confidence: float = 0.9, length_m: float = 5000.0):
    t = scene.resampled_transform
    top, bottom = t @ (front_col, row0), t @ (front_col, scene.height)
    return FrontLine(LineString([top, bottom]), length_m, confidence, scene.height - row0)


def picture_and_band(img: Image.Image, picture_height: int) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.asarray(img.convert("RGB")).astype(int)
    return rgb[:picture_height], rgb[picture_height:]


def has_colour(rgb: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.all(rgb == np.asarray(colour), axis=-1)


def test_legend_fits_a_narrow_picture_with_swatches(tmp_path) -> None:
    # 120 x 900: no zoom (768 // 900 == 0), so the picture, and its caption band, are 120 px wide.
    path = glacier_scene(tmp_path / "narrow_scene_2020-07-01.tif", height=900, width=120, front_col=60)
    with open_scene(path) as scene:
        zones = zones_of(900, 120, 60, 50)
        valid = np.ones((900, 120), bool)
        line = front_line(scene, 60, 50)
        img, layout = build_quicklook(scene, zones, valid, [line], title=path.name)
        look = render_quicklook(tmp_path / "look.png", scene, zones, valid, [line], title=path.name)
    assert img.size[0] == 120 and layout.width == 120
    assert Image.open(look).size == img.size == (120, 900 + layout.height)
    # Every piece of text, measured in the font it is drawn in, lies inside the band; so do the swatches.
    for x, y, text in layout.texts:
        left, top, right, bottom = layout.text_box(x, y, text)
        assert left >= 0 and right <= layout.width, text
        assert top >= 0 and bottom <= layout.height, text
    for (x0, y0, x1, y1), _ in layout.swatches:
        assert 0 <= x0 < x1 <= layout.width and 0 <= y0 < y1 <= layout.height
    # Whole labels, not 'rock: brow': each zone, the front, and the file name's pieces all come back.
    texts = [t for _, _, t in layout.texts]
    assert {"front", "rock", "glacier", "ocean"} <= set(texts)
    assert path.name in "".join(texts)  # the file name, wrapped in pieces that fit
    assert len(path.name) * 5 > 120  # ... which it has to be at this width
    _, band = picture_and_band(img, 900)
    for cls in (ROCK_Z, GLACIER_Z, OCEAN_Z):  # the zone swatches are drawn, in the band
        assert has_colour(band, tinted(140, cls)).sum() >= 16
    assert has_colour(band, FRONT_RGB).any()
    assert has_colour(band[:, -2:], BAND_RGB).all()  # nothing runs off the right edge


@pytest.mark.parametrize("width", [60, 400, 2000])
def test_caption_layout_never_runs_past_its_width(width) -> None:
    texts = ["a_rather_long_scene_name_without_spaces_2020-07-01_S1A_IW_GRDH.tif", "2 front lines, 12.4 km"]
    items = [LegendItem("fill", (1, 2, 3), name) for name in ("front", "AOI", "rock", "glacier", "ocean")]
    layout = caption_layout(width, texts, items, metres_per_px=20.0)
    for x, y, text in layout.texts:
        assert layout.text_box(x, y, text)[2] <= width, text
    for (_, _, x1, _), _ in layout.swatches:
        assert x1 <= width
    assert layout.scale is not None and layout.scale[0] + layout.scale[2] <= width


def test_caption_counts_lines_in_the_singular_and_plural(tmp_path) -> None:
    path = glacier_scene(tmp_path / "s.tif")
    with open_scene(path) as scene:
        one = front_line(scene, 220, 50)
        assert summary_text([one]).startswith("1 front line, 5.0 km")
        assert "lines" not in summary_text([one])
        assert summary_text([one, one]).startswith("2 front lines, 10.0 km")
        assert summary_text([]) == "no calving front found"
        _, layout = build_quicklook(
            scene, zones_of(300, 400, 220, 50), np.ones((300, 400), bool), [one], title="s.tif"
        )
    assert "1 front line, 5.0 km" in [t for _, _, t in layout.texts]


def test_caption_shows_the_lines_quality(tmp_path) -> None:
    path = glacier_scene(tmp_path / "s.tif")
    with open_scene(path) as scene:
        doubtful = front_line(scene, 220, 50, confidence=0.5)
        sure = front_line(scene, 220, 50, confidence=0.95)
        # Without predict's quality, the line's own confidence still tells low_confidence.
        assert summary_text([doubtful]).endswith("; quality: low_confidence")
        assert "quality" not in summary_text([sure]) and "check" not in summary_text([sure])
        # With predict's per-line quality: the flags of all lines, each once, sorted.
        both = summary_text([doubtful, sure], ["low_confidence+fragmented", "fragmented"])
        assert both == "2 front lines, 10.0 km; quality: fragmented+low_confidence"
        assert summary_text([sure], ["ok"]).endswith("; quality: ok")
        _, layout = build_quicklook(
            scene,
            zones_of(300, 400, 220, 50),
            np.ones((300, 400), bool),
            [doubtful],
            quality=["touches_nodata"],
        )
    assert any("touches_nodata" in t for _, _, t in layout.texts)


@pytest.mark.parametrize("as_mapping", [False, True])
def test_aoi_outline_is_drawn_in_its_colour(tmp_path, as_mapping) -> None:
    path = glacier_scene(tmp_path / "s.tif")  # 300 x 400, 20 m pixels in EPSG:3413
    with open_scene(path) as scene:
        t = scene.resampled_transform
        (x0, y0), (x1, y1) = t @ (50, 250), t @ (350, 80)  # cols 50-350, rows 80-250
        polygon = box(x0, y0, x1, y1)
        aoi = [mapping(polygon) if as_mapping else polygon]
        args = (scene, zones_of(300, 400, 220, 50), np.ones((300, 400), bool), [front_line(scene, 220, 50)])
        img, layout = build_quicklook(*args, aoi=aoi)
        plain, plain_layout = build_quicklook(*args)
    picture, _ = picture_and_band(img, 300)  # 768 // 400 == 1: no zoom
    outline = has_colour(picture, AOI_RGB)
    assert outline[165, 48:53].any() and outline[165, 348:353].any()  # left and right sides
    assert outline[78:83, 200].any() and outline[248:253, 200].any()  # top and bottom
    assert not outline[165, 60:340].any()  # an outline, not a fill
    assert not has_colour(picture_and_band(plain, 300)[0], AOI_RGB).any()
    assert "AOI" in [item.label for _, item in layout.swatches]
    assert "AOI" not in [item.label for _, item in plain_layout.swatches]


def test_scale_bar_in_metres_when_the_pixel_size_is_known(tmp_path) -> None:
    path = glacier_scene(tmp_path / "s.tif")  # 400 px of 20 m across: the bar at most a third, 2 km
    with open_scene(path) as scene:
        img, layout = build_quicklook(scene, zones_of(300, 400, 220, 50), np.ones((300, 400), bool), [])
    assert layout.scale is not None
    x, y, px, label = layout.scale
    assert (px, label) == (100, "2 km")
    assert label in [t for _, _, t in layout.texts]
    _, band = picture_and_band(img, 300)
    assert has_colour(band[y, x : x + px], SCALE_RGB).all()


def test_no_scale_bar_without_a_pixel_size(tmp_path) -> None:
    path = glacier_scene(tmp_path / "p.tif", crs=None)
    with open_scene(path, allow_pixel_coords=True) as scene:
        zones = zones_of(300, 400, 220, 50)
        img, layout = build_quicklook(scene, zones, np.ones((300, 400), bool), [])
    assert layout.scale is None
    assert not any(t.endswith((" m", " km")) for _, _, t in layout.texts)
    assert img.size[1] > 300  # the caption band is still there


def test_glacier_tint_shows_on_grey_sar(tmp_path) -> None:
    path = glacier_scene(tmp_path / "s.tif")
    with open_scene(path) as scene:
        img, _ = build_quicklook(scene, zones_of(300, 400, 220, 50), np.ones((300, 400), bool), [])
    picture, _ = picture_and_band(img, 300)
    glacier = picture[150, 100]  # a mid-grey (150) glacier pixel
    assert glacier.max() - glacier.min() >= 60  # clearly a colour, not a lighter grey
    assert tuple(glacier) == tinted(GLACIER, GLACIER_Z)
    colours = {tuple(picture[150, 100]), tuple(picture[150, 300]), tuple(picture[20, 100])}
    assert len(colours) == 3  # glacier, ocean and rock all differ
