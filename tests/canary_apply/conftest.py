"""The approval tests' fixtures (moto over HTTP, the template's tables and topic, the twin), reused here."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "approval"))

from approval_support import account, aws_env, moto_url  # noqa: F401 - fixtures, registered by import
