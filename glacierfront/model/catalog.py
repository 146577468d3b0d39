"""The shipped models by name: models/catalog.json says which file answers to "sar", "optical", ...

``--model`` takes a name from it as well as a path; ``glacierfront models`` lists them. A name is looked up
only when no file of that name exists, so a file called "sar" in the working folder is still a path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from glacierfront.errors import GlacierfrontError

CATALOG_FILE = "catalog.json"


@dataclass(frozen=True)
class ShippedModel:
    name: str
    path: Path
    sensors: str
    card: str
    default: bool


def read_catalog(models_dir: Path) -> list[ShippedModel]:
    """The catalog's entries, in its order; an absent catalog gives none."""
    path = models_dir / CATALOG_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
        default = data.get("default")
        return [
            ShippedModel(
                name=name,
                path=models_dir / entry["file"],
                sensors=entry.get("sensors", ""),
                card=entry.get("card", ""),
                default=name == default,
            )
            for name, entry in data["models"].items()
        ]
    except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
        raise GlacierfrontError(f"{path}: not a readable model catalog ({err})") from None


def resolve_model(value: str | Path | None, models_dir: Path) -> Path:
    """A --model value as a file: None -> the default model, an existing path -> itself, a name -> its file.

    A value that is neither an existing file nor a name is returned as a path when it looks like one (has a
    suffix or a folder), so the loader reports the missing file; a bare word gets the list of names.
    """
    entries = read_catalog(models_dir)
    if value is None:
        default = next((e for e in entries if e.default), None)
        if default is None:
            raise GlacierfrontError(f"no default model in {models_dir / CATALOG_FILE}; pass --model MODEL")
        return _existing(default)
    path = Path(value)
    if path.exists():
        return path
    named = next((e for e in entries if e.name == str(value)), None)
    if named is not None:
        return _existing(named)
    if path.suffix or len(path.parts) > 1:
        return path  # meant as a file: the loader says it is missing
    names = ", ".join(e.name for e in entries) or "none"
    raise GlacierfrontError(
        f"--model {value}: no such file and no shipped model of that name (shipped: {names}; "
        "see glacierfront models)"
    )


def _existing(entry: ShippedModel) -> Path:
    if not entry.path.is_file():
        raise GlacierfrontError(f"shipped model {entry.name!r}: its file {entry.path} is missing; reinstall")
    return entry.path
