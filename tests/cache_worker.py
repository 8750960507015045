"""A process that asks the release cache for one entry (used by the concurrency test)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from privhealth.anon.release import Release
from privhealth.data.schema import TableSchema
from privhealth.experiments.cache import ReleaseCache


def compute(log: Path) -> Release:
    with open(log, "a") as fh:
        fh.write("computed\n")
    time.sleep(1.0)  # long enough for the other process to arrive while this one holds the lock
    frame = pd.DataFrame({"pid": ["P1", "P2", "P3"], "age": ["60-69", "60-69", "70-79"]})
    schema = TableSchema.from_dict({"pid": {"role": "entity", "kind": "string"},
                                    "age": {"role": "quasi", "kind": "categorical"}})
    return Release(frame, schema, "rules", [{"step": "Generalizer"}], 3, 3)


if __name__ == "__main__":
    root, key, log = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    release, hit = ReleaseCache(root).get_or_compute(key, lambda: compute(log))
    print(f"hit={hit} rows={len(release.frame)}")
