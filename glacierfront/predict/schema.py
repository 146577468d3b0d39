"""The fields of every front line predict writes (light: the review server and readers import it alone)."""

# Field names of at most 10 characters, so a Shapefile (.dbf) keeps them whole.
# The names glaciologists' front databases use for each are in README ("Fields of a front line").
LINE_SCHEMA = {
    "scene": "str",
    "glacier_id": "str",  # --glacier-id, or the AOI polygon's glacier_id/name field
    "date": "str",  # ISO date of the acquisition
    "dec_year": "float",  # decimal year at noon of that date
    "sensor": "str",
    "image_id": "str",  # the scene file's name without its suffix
    "quality": "str",  # ok, or flags joined by +: see glacierfront.predict.attributes
    "length_m": "float",
    "confidence": "float",
    "model": "str",
    "model_sha": "str",  # the model file's sha256
    "pixel_m": "float",  # pixel spacing the front was traced at; evaluate samples lines from it
}
