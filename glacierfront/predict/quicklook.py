"""A quicklook PNG for a person: the scene in grey, zones tinted over it, the calving front in red, the AOI
outlined in yellow, and a caption band below the picture (file, lines found and their quality, a legend
with colour swatches, a scale bar in metres when the pixel size is known).

The picture keeps the scene's top-left corner at the PNG's (0, 0): the caption band is added below it, so
picture pixels map to scene pixels by the decimation step and the zoom alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from glacierfront.io.atomic import atomic_path
from glacierfront.io.raster import Scene
from glacierfront.predict.attributes import LOW_CONFIDENCE, lines_and_quality
from glacierfront.predict.vectorise import FrontLine
from glacierfront.zones import QUICKLOOK_COLOURS, ZONE_CLASS_NAMES

MAX_SIDE_PX = 1600
MIN_SIDE_PX = 768
# The caption band is never narrower than this (a picture narrower than it gets band-coloured margin on
# its right), so the legend's widest item and the scale bar always fit.
MIN_CANVAS_PX = 100
# The tinted zones (rock, glacier, ocean) and their legend names.
ZONE_NAMES = {cls: ZONE_CLASS_NAMES[cls] for cls in QUICKLOOK_COLOURS}
ZONE_ALPHA = 0.45
NODATA_DIM = 0.5  # pixels outside the valid data: the grey at half brightness, untinted
FRONT_RGB = (230, 30, 30)
AOI_RGB = (255, 215, 0)
BAND_RGB = (24, 24, 24)
TEXT_RGB = (255, 255, 255)
SWATCH_EDGE_RGB = (170, 170, 170)
SCALE_RGB = (255, 255, 255)
SWATCH_GREY = 140  # legend swatches show each tint as it looks over a mid-grey scene


def tinted(grey: float, cls: int) -> tuple[int, int, int]:
    """The colour a pixel of brightness ``grey`` (0-255) of zone ``cls`` gets in the quicklook."""
    tint = np.asarray(QUICKLOOK_COLOURS[cls], dtype=np.float64)
    return tuple(int(v) for v in np.clip(np.round((1 - ZONE_ALPHA) * grey + ZONE_ALPHA * tint), 0, 255))


def caption_font(width: int) -> Any:
    """The caption's font, sized to the band's width (10 to 22 px)."""
    size = int(np.clip(round(width / 50), 10, 22))
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ValueError, OSError, ImportError):  # a Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


@dataclass
class LegendItem:
    kind: str  # "fill" (a zone), "line" (the front), "outline" (the AOI)
    colour: tuple[int, int, int]
    label: str


@dataclass
class CaptionLayout:
    """Where everything in the caption band goes, in band coordinates (x, y from the band's top-left)."""

    width: int
    height: int
    font: Any
    text_h: int  # the height of a line of text, px
    texts: list[tuple[int, int, str]] = field(default_factory=list)  # (x, y, text)
    swatches: list[tuple[tuple[int, int, int, int], LegendItem]] = field(default_factory=list)  # box, item
    scale: tuple[int, int, int, str] | None = None  # bar's (x, y, length px) and its label

    def text_box(self, x: int, y: int, text: str) -> tuple[int, int, int, int]:
        """The pixels ``text`` drawn at (x, y) covers: (left, top, right, bottom), right/bottom exclusive."""
        left, top, right, bottom = self.font.getbbox(text)
        return x + left, y + top, x + right, y + bottom


def _text_width(font: Any, text: str) -> int:
    return math.ceil(font.getlength(text))


def wrap_text(text: str, font: Any, width: int) -> list[str]:
    """``text`` in lines no wider than ``width`` px: broken at spaces, and inside a word too long to fit."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if _text_width(font, candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = ""
        while _text_width(font, word) > width and len(word) > 1:  # a long file name: cut it in pieces
            cut = len(word) - 1
            while cut > 1 and _text_width(font, word[:cut]) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    return lines


def _nice_scale(metres_per_px: float, max_px: Callable[[str], float]) -> tuple[float, int] | None:
    """The longest 1, 2 or 5 x 10^k metres whose bar is at least 8 px and at most ``max_px(label)`` long
    (the room left by the bar's label): (metres, px); None when no such bar fits."""
    if not metres_per_px > 0:
        return None
    exponent = math.floor(math.log10(max(max_px(""), 1.0) * metres_per_px))
    for k in range(exponent, exponent - 4, -1):
        for mantissa in (5, 2, 1):
            metres = mantissa * 10.0**k
            px = round(metres / metres_per_px)
            if px < 8:
                return None
            if px <= max_px(_distance_label(metres)):
                return metres, px
    return None


def _distance_label(metres: float) -> str:
    """A scale bar's length: '500 m', '2 km'."""
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


def _length_label(metres: float) -> str:
    """The lines' total length: '740 m', '5.0 km'."""
    return f"{metres / 1000:.1f} km" if metres >= 1000 else f"{metres:.0f} m"


def caption_layout(
    width: int,
    texts: Sequence[str],
    items: Sequence[LegendItem],
    metres_per_px: float | None = None,
    picture_width: int | None = None,
) -> CaptionLayout:
    """Lay out the caption band ``width`` px wide: ``texts`` wrapped one after the other, then the legend's
    swatches and labels flowing onto as many rows as the width needs, then a scale bar (at most a third of
    ``picture_width``) when ``metres_per_px`` is known. Nothing is placed beyond the band's width."""
    font = caption_font(width)
    _, top, _, bottom = font.getbbox("Ag|")
    text_h = bottom - top
    pad = max(4, text_h // 2)
    row_h = text_h + max(3, text_h // 3)
    avail = width - 2 * pad
    layout = CaptionLayout(width=width, height=0, font=font, text_h=text_h)
    y = pad
    for text in texts:
        for line in wrap_text(text, font, avail):
            layout.texts.append((pad, y - top, line))
            y += row_h
    swatch = text_h
    gap = max(3, swatch // 3)
    x = pad
    if items:
        y += max(2, row_h // 4)
    for item in items:
        label_w = _text_width(font, item.label)
        item_w = swatch + gap + label_w
        if x > pad and x + item_w > width - pad:
            x, y = pad, y + row_h
        layout.swatches.append(((x, y, x + swatch, y + swatch), item))
        layout.texts.append((x + swatch + gap, y - top, item.label))
        x += item_w + 2 * gap
    if items:
        y += row_h
    if metres_per_px is not None:
        third = (picture_width or width) / 3
        scale = _nice_scale(metres_per_px, lambda label: min(third, avail - gap - _text_width(font, label)))
        if scale is not None:
            metres, px = scale
            label = _distance_label(metres)
            bar_y = y + swatch // 2
            layout.scale = (pad, bar_y, px, label)
            layout.texts.append((pad + px + gap, y - top, label))
            y += row_h
    layout.height = y + pad - max(3, text_h // 3)
    return layout


def _draw_caption(img: Image.Image, layout: CaptionLayout, y0: int) -> None:
    draw = ImageDraw.Draw(img)
    for (x0, y0_, x1, y1), item in layout.swatches:
        box = (x0, y0 + y0_, x1 - 1, y0 + y1 - 1)
        if item.kind == "fill":
            draw.rectangle(box, fill=item.colour, outline=SWATCH_EDGE_RGB)
        elif item.kind == "outline":
            draw.rectangle(box, outline=item.colour, width=max(2, (x1 - x0) // 5))
        else:  # the front: a thick line across the swatch
            mid = (box[1] + box[3]) // 2
            thick = max(2, (x1 - x0) // 4)
            draw.rectangle((box[0], mid - thick // 2, box[2], mid - thick // 2 + thick - 1), fill=item.colour)
    for x, y, text in layout.texts:
        draw.text((x, y0 + y), text, fill=TEXT_RGB, font=layout.font)
    if layout.scale is not None:
        x, y, px, _ = layout.scale
        y += y0
        thick = max(2, layout.text_h // 5)
        tick = max(3, thick * 2)
        draw.rectangle((x, y - thick // 2, x + px - 1, y - thick // 2 + thick - 1), fill=SCALE_RGB)
        for end in (x, x + px - 1):
            draw.rectangle(
                (end - thick // 2, y - tick, end - thick // 2 + thick - 1, y + tick - 1), fill=SCALE_RGB
            )


def _polygons(geometry: Any) -> list[Any]:
    """The polygons of a shapely geometry or a GeoJSON-like mapping (Polygon, MultiPolygon, a collection)."""
    from shapely.geometry import shape

    geom = shape(geometry) if isinstance(geometry, Mapping) else geometry
    if geom.geom_type == "Polygon":
        return [geom]
    return [p for part in getattr(geom, "geoms", []) for p in _polygons(part)]


def quality_flags(lines: Sequence[FrontLine], quality: Sequence[str] | None) -> list[str]:
    """The lines' quality flags (sorted, 'ok' left out): from ``quality`` (each line's 'ok' or flags joined
    by '+', as predict files them) when given, else only what the lines tell by themselves
    (``low_confidence``)."""
    if quality is not None:
        return sorted({f for q in quality for f in (q or "ok").split("+") if f and f != "ok"})
    return ["low_confidence"] if any(line.confidence < LOW_CONFIDENCE for line in lines) else []


def summary_text(
    lines: Sequence[FrontLine], quality: Sequence[str] | None = None, metric: bool = True
) -> str:
    """'1 front line, 5.0 km; quality: ok' or '2 front lines, 12.4 km; quality: fragmented+low_confidence'
    (``attributes.lines_and_quality``, as predict's summary line).

    ``metric``: whether the lines' lengths are ground metres (the scene has a CRS). Without ``quality``
    only ``low_confidence`` can be told, and 'quality: ok' is not claimed."""
    if not lines:
        return "no calving front found"
    length = _length_label(sum(line.length_m for line in lines)) if metric else None
    flags = quality_flags(lines, quality)
    text = lines_and_quality(len(lines), length, flags)
    return text if flags or quality is not None else text.rsplit("; quality:", 1)[0]


def build_quicklook(
    scene: Scene,
    zones: np.ndarray,
    valid: np.ndarray,
    lines: list[FrontLine],
    title: str = "",
    max_side_px: int = MAX_SIDE_PX,
    aoi: Sequence[Any] | None = None,
    quality: Sequence[str] | None = None,
) -> tuple[Image.Image, CaptionLayout]:
    """The quicklook picture and its caption's layout (the band starts at the picture's height)."""
    height, width = zones.shape
    step = max(1, math.ceil(max(height, width) / max_side_px))
    small_zones = np.asarray(zones[::step, ::step])
    small_valid = np.asarray(valid[::step, ::step])
    picture = _tinted_picture(scene, small_zones, small_valid)
    # Small scenes are enlarged (whole pixels, no smoothing) so the picture and its legend stay readable.
    h, w = small_zones.shape
    zoom = max(1, MIN_SIDE_PX // max(h, w))
    if zoom > 1:
        picture = picture.resize((w * zoom, h * zoom), Image.NEAREST)
        h, w = h * zoom, w * zoom
    _draw_outlines(picture, ~scene.resampled_transform, zoom, step, lines, aoi)
    items = _legend_items(bool(aoi), bool(small_valid.all()))
    mpp = scene.metres_per_pixel()
    metres_per_px = None if mpp is None else float(mpp[0]) * step / zoom
    texts = [t for t in (title, summary_text(lines, quality, metric=scene.crs is not None)) if t]
    canvas_w = max(w, MIN_CANVAS_PX)
    layout = caption_layout(canvas_w, texts, items, metres_per_px, picture_width=w)
    img = Image.new("RGB", (canvas_w, h + layout.height), BAND_RGB)
    img.paste(picture, (0, 0))
    _draw_caption(img, layout, h)
    return img, layout


def _tinted_picture(scene: Scene, small_zones: np.ndarray, small_valid: np.ndarray) -> Image.Image:
    """The decimated scene in grey with the zones tinted over it and nodata dimmed, one pixel per cell."""
    h, w = small_zones.shape
    # One decimated read of the scene on the same grid, scaled exactly as the model saw it: only the
    # picture's pixels are read (from the file's overviews when it has them), never the full grid.
    grey = scene.read_decimated(h, w)[0][0]
    rgb = np.repeat((grey * 255)[..., None], 3, axis=2)
    palette = np.zeros((256, 3), dtype=np.float32)
    alpha = np.zeros(256, dtype=np.float32)  # NA (0) and unknown classes stay untinted
    for cls, colour in QUICKLOOK_COLOURS.items():
        palette[cls] = colour
        alpha[cls] = ZONE_ALPHA
    a = alpha[small_zones][..., None]
    blend = np.where(small_valid[..., None], (1 - a) * rgb + a * palette[small_zones], rgb * NODATA_DIM)
    return Image.fromarray(np.clip(blend, 0, 255).astype(np.uint8), mode="RGB")


def _draw_outlines(
    picture: Image.Image,
    inverse: Any,
    zoom: int,
    step: int,
    lines: list[FrontLine],
    aoi: Sequence[Any] | None,
) -> None:
    """The AOI's rings in yellow, then the front lines in red, from grid coordinates (``inverse``: map to
    scene pixels) to picture pixels (enlarged by ``zoom``, decimated by ``step``)."""
    draw = ImageDraw.Draw(picture)
    stroke = max(2, min(picture.height, picture.width) // 300)

    def to_picture(coords: Any) -> list[tuple[float, float]]:
        return [
            (x * zoom / step, y * zoom / step)
            for x, y in (inverse @ (float(c[0]), float(c[1])) for c in coords)
        ]

    for geometry in aoi or []:
        for polygon in _polygons(geometry):
            for ring in [polygon.exterior, *polygon.interiors]:
                xy = to_picture(ring.coords)
                if len(xy) >= 2:
                    draw.line([*xy, xy[0]], fill=AOI_RGB, width=stroke, joint="curve")
    for line in lines:
        draw.line(to_picture(line.geometry.coords), fill=FRONT_RGB, width=stroke)


def _legend_items(with_aoi: bool, all_valid: bool) -> list[LegendItem]:
    """The legend: the front, the AOI when drawn, each zone's tint, and 'no data' when some is shown."""
    items = [LegendItem("line", FRONT_RGB, "front")]
    if with_aoi:
        items.append(LegendItem("outline", AOI_RGB, "AOI"))
    items += [LegendItem("fill", tinted(SWATCH_GREY, cls), name) for cls, name in ZONE_NAMES.items()]
    if not all_valid:
        grey_dim = round(SWATCH_GREY * NODATA_DIM)
        items.append(LegendItem("fill", (grey_dim,) * 3, "no data"))
    return items


def render_quicklook(
    path: str | Path,
    scene: Scene,
    zones: np.ndarray,
    valid: np.ndarray,
    lines: list[FrontLine],
    title: str = "",
    max_side_px: int = MAX_SIDE_PX,
    aoi: Sequence[Any] | None = None,
    quality: Sequence[str] | None = None,
) -> Path:
    """Draw a decimated view (at most ``max_side_px`` a side), a caption band below it, and write it
    atomically as PNG.

    ``lines`` and ``aoi`` (polygons: shapely geometries or GeoJSON-like mappings, e.g. ``AoiMask.geoms``)
    are in the CRS of the scene's read grid (``scene.crs``, ``scene.resampled_transform``); ``quality`` is
    each line's quality ('ok' or flags joined by '+', as in ``SceneResult.line_attributes``).
    """
    img, _ = build_quicklook(scene, zones, valid, lines, title, max_side_px, aoi, quality)
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        img.save(tmp, format="PNG")
    return path
