"""Front evaluation: how far predicted calving fronts are from reference fronts.

Two modes, one module each, over shared metrics:
    vector.py   line files against reference line files, in ground metres (``glacierfront evaluate FRONTS``)
    caffe.py    a model on a CaFFe-layout split, CaFFe's own post-processing and scoring (``evaluate --data``)
    metrics.py  mean distance error (pooled), HD95, densifying lines, zone confusion scores
    table.py    the flat CSV form of either result

Names are loaded on first use, so training code that scores with ``caffe`` never imports the vector readers.
"""

from __future__ import annotations

from glacierfront.lazy import lazy_names

_EXPORTS = {
    "CaffeOptions": "caffe",
    "evaluate_caffe": "caffe",
    "holdout_config": "caffe",
    "MATCH_MODES": "vector",
    "evaluate_vectors": "vector",
    "local_metric_crs": "vector",
    "CSV_COLUMNS": "table",
    "csv_rows": "table",
    "nothing_evaluated": "table",
    "write_csv": "table",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_names(__name__, _EXPORTS)
