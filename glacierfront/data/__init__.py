"""Small data shipped with glacierfront: the georeferenced SAR and optical sample scenes used by `make demo`."""

from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
SAMPLE_OPTICAL_DIR = Path(__file__).resolve().parent / "sample_optical"
SAMPLE_SERIES_DIR = Path(__file__).resolve().parent / "sample_series"
