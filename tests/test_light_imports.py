"""Training and CaFFe-mode scoring need no GIS stack: the lent GPU machines have no rasterio, fiona or shapely."""

from __future__ import annotations

import subprocess
import sys

GIS = ("rasterio", "fiona", "shapely")


def test_training_and_caffe_scoring_import_without_rasterio_fiona_or_shapely():
    # A None entry in sys.modules makes `import rasterio` raise ImportError, as on a machine without it.
    code = (
        f"import sys; sys.modules.update(dict.fromkeys({GIS!r})); "
        "import glacierfront.train.loop, glacierfront.train.crossval, glacierfront.evaluate.caffe; "
        "from glacierfront.evaluate import CaffeOptions, evaluate_caffe"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
