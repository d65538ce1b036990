"""Fixtures live in approval_support (importable by the tests too); pytest finds them through here."""

from approval_support import account, aws_env, deployed, moto_url  # noqa: F401 - fixtures, registered by import
