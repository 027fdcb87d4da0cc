"""Where the third-party conformance data lives (never copied into this repository): the folder
named by NONGSAN_CONFORMANCE_DIR, else `shared/conformance` beside the clone, else the workplace's."""

import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent


def conformance_dir() -> Path:
    candidates = [os.environ.get("NONGSAN_CONFORMANCE_DIR"), _ROOT.parent / "shared" / "conformance",
                  Path("/work/shared/conformance")]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    raise FileNotFoundError("conformance data not found: set NONGSAN_CONFORMANCE_DIR")


CONFORMANCE = conformance_dir()
