"""Small data shipped with glacierfront: the georeferenced sample scene used by `make demo`."""

from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
