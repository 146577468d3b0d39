"""A training run's config.json as a plain table: readable without the training code (and so without torch).

``train.config.TrainConfig.load`` builds its typed record from it; ``evaluate --holdout`` takes only the split
fields (split, glaciers, val_fraction, seed, val_glaciers) from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from glacierfront.errors import GlacierfrontError


def read_run_config(path: str | Path) -> dict[str, Any]:
    """The JSON table of a run's config file; a file that cannot be read or is not JSON is one line."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise GlacierfrontError(f"{path}: cannot read the run's config ({err})") from None
