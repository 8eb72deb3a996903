"""Where the project's shared files are (paper, data, editors): `../shared` beside the
checkout, or the folder named by IIC_SHARED_DIR for a checkout kept elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("IIC_SHARED_DIR", REPO.parent / "shared"))
SHARED_DATA = SHARED / "data"
