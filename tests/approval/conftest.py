"""Fixtures live in approval_support and twin_support (importable by the tests too); registered here."""

from approval_support import account, aws_env, deployed, moto_url  # noqa: F401 - fixtures, registered by import
from twin_support import live, twin  # noqa: F401 - fixtures, registered by import
