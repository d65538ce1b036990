"""The canary-cleanup tests reuse the approval and canary helpers (tables, topic, recommendations); each
module runs its own twin (moto's state is per process)."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
for folder in ("approval", "canary_apply"):
    sys.path.insert(0, str(TESTS / folder))
