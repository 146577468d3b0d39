"""Atomic writes: a failure after part of the new file was written leaves the previous file byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from shapely.geometry import LineString

from glacierfront.errors import GlacierfrontError
from glacierfront.io.atomic import atomic_path
from glacierfront.io.vector_files import SHAPEFILE_PARTS, read_lines, write_lines


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Everything in ``folder``, hidden temporaries included: a file's bytes, None for a folder."""
    return {p.name: p.read_bytes() if p.is_file() else None for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_atomic_path_failing_after_a_partial_write_keeps_the_previous_file(tmp_path, error) -> None:
    target = tmp_path / "result.bin"
    target.write_bytes(b"the previous, complete result\n" * 200)
    before = snapshot(tmp_path)
    with pytest.raises(error, match="half way"), atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(b"\x00NEW" * 1000)
            fh.flush()
        assert tmp.stat().st_size == 4000  # bytes really reached the disk before the failure
        raise error("stopped half way")
    assert snapshot(tmp_path) == before  # same bytes, and no temporary file left beside it


def test_atomic_path_replaces_the_target_only_on_success(tmp_path) -> None:
    target = tmp_path / "result.bin"
    target.write_bytes(b"old")
    with atomic_path(target) as tmp:
        assert tmp != target and tmp.parent == tmp_path
        tmp.write_bytes(b"new")
        assert target.read_bytes() == b"old"
    assert snapshot(tmp_path) == {"result.bin": b"new"}


class FailingGeometry:
    """A record whose geometry cannot be converted: the writer fails on it, after the records before it."""

    @property
    def __geo_interface__(self) -> dict:
        raise RuntimeError("geometry conversion failed")


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".shp"])
def test_write_lines_failing_mid_way_keeps_the_previous_file(tmp_path, suffix) -> None:
    path = tmp_path / f"fronts{suffix}"
    schema = {"scene": "str"}
    old = [(LineString([(0, 0), (10, 0)]), {"scene": "old"})]
    write_lines(path, old, "EPSG:3413", schema)
    before = snapshot(tmp_path)
    if suffix == ".shp":
        assert {".shp", ".shx", ".dbf"} <= {Path(name).suffix for name in before}
        assert set(before) <= {path.with_suffix(part).name for part in SHAPEFILE_PARTS}
    new = [(LineString([(0, k), (10, k)]), {"scene": f"new{k}"}) for k in range(1, 40)]
    with pytest.raises((RuntimeError, GlacierfrontError), match="geometry conversion failed"):
        write_lines(path, [*new, (FailingGeometry(), {"scene": "bad"})], "EPSG:3413", schema)
    assert snapshot(tmp_path) == before  # every part unchanged, no temporary folder left
    records, _ = read_lines(path)
    assert [props["scene"] for _, props in records] == ["old"]
