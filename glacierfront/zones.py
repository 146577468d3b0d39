"""The zone classes, defined once: class ids, names, CaFFe's PNG grey values, the ignore label, colours.

A ground-floor module: it imports nothing from glacierfront, so any module may take the classes from here.
"""

from __future__ import annotations

import numpy as np

# Class ids, as the model's output channels and every class-id array hold them.
NA, ROCK, GLACIER, OCEAN = range(4)
# Their names, in class-id order: stamped into model metadata ("classes"), used as metric keys.
ZONE_CLASS_NAMES = ("na", "rock", "glacier", "ocean")
# The same names as report tables show them (NA is an abbreviation: no information).
ZONE_TITLES = ("NA", "rock", "glacier", "ocean")
NUM_ZONE_CLASSES = len(ZONE_CLASS_NAMES)

# CaFFe stores zone classes as these grey values; the class id is the index (0 NA, 1 rock, 2 glacier, 3 ocean).
ZONE_PNG_VALUES = np.array([0, 64, 127, 254], dtype=np.uint8)

# A zone label pixel that says nothing (weak labels made from a front line): no class, left out of every loss
# and score. In a zone PNG such pixels are transparent (alpha 0); in a class-id array they hold this value.
IGNORE_ZONE = 255

# The zone GeoTIFF's colour table, colours a glaciologist expects: NA black, rock brown, glacier white-blue,
# ocean dark blue (RGBA).
ZONE_COLOURS = {
    NA: (0, 0, 0, 255),
    ROCK: (140, 100, 70, 255),
    GLACIER: (225, 240, 255, 255),
    OCEAN: (25, 60, 140, 255),
}
# The quicklook's tints, saturated (not the zone GeoTIFF's near-white glacier): on grey SAR each zone must read
# as a colour. NA is not tinted.
QUICKLOOK_COLOURS = {ROCK: (205, 120, 45), GLACIER: (40, 215, 255), OCEAN: (35, 75, 215)}
