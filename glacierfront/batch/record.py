"""What a batch run writes itself, around the scenes' own outputs: manifest rows and, with one output file
for every scene, that file.

A folder run's workers write each scene's file, and its manifest row follows at once. A one-file run
gathers the scenes' lines and writes the file at the end, then the rows, so that a row never names an
output that does not exist yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from glacierfront.batch.job import SceneOutcome
from glacierfront.batch.manifest import ManifestWriter
from glacierfront.io.vector_files import write_lines
from glacierfront.predict import LINE_SCHEMA
from glacierfront.predict.outputs import OutputPlan


def record(
    outcomes: Iterable[SceneOutcome],
    plan: OutputPlan,
    manifest: ManifestWriter | None = None,
    on_file: Callable[[Path], None] | None = None,
) -> Iterator[SceneOutcome]:
    """Yield each outcome as the batch loop gives it, writing the manifest and the one file as the module
    docstring says; ``on_file`` hears of the one file once it is written."""
    gathered: list[SceneOutcome] = []
    for outcome in outcomes:
        yield outcome
        if plan.folder and manifest is not None:
            manifest.write(outcome)
        else:
            gathered.append(outcome)
    if plan.folder:
        return
    found = sorted((o for o in gathered if not o.failed), key=lambda o: o.index)
    if found:
        records = [rec for o in found for rec in o.records]
        written = write_lines(plan.vector, records, found[0].crs, LINE_SCHEMA, plan.layer, plan.overwrite)
        if on_file is not None:
            on_file(written)
    for outcome in gathered if manifest is not None else []:
        manifest.write(outcome)
