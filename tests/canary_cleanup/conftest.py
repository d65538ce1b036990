"""The canary-cleanup tests reuse the approval and canary helpers (tables, topic, recommendations) and the
twin server tests' fleet; each module runs its own twin (moto's state is per process)."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
for folder in ("approval", "canary_apply", "twin/server"):
    sys.path.insert(0, str(TESTS / folder))
