"""What can go wrong applying a change, as named errors, and what a successful step returns."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict


class ApplyError(Exception):
    """A change was not made (and whatever was started has been undone, unless `restored` is False)."""

    def __init__(self, message: str, *, restored: bool = True) -> None:
        super().__init__(message)
        self.restored = restored


class RevisionMismatchError(ApplyError):
    """The function changed since the proposal (a deploy won): the proposal no longer applies."""


class ConflictError(ApplyError):
    """Another update of the function is in progress."""


class ThrottledError(ApplyError):
    pass


class LambdaServiceError(ApplyError):
    pass


class UpdateFailedError(ApplyError):
    pass


class CodeMismatchError(ApplyError):
    """The alias serves a version whose code differs from $LATEST: publishing would ship other code."""


class GoneError(ApplyError):
    """The function (or its alias) no longer exists: there is nothing left to change or put back."""


class PcFailedError(ApplyError):
    pass


class Applied(BaseModel):
    model_config = ConfigDict(frozen=True)

    before: dict[str, Any]
    after: dict[str, Any]
    request_ids: tuple[str, ...] = ()


_ERRORS: dict[str, type[ApplyError]] = {
    "PreconditionFailedException": RevisionMismatchError,
    "ResourceNotFoundException": GoneError,
    "ResourceConflictException": ConflictError,
    "TooManyRequestsException": ThrottledError,
    "ThrottlingException": ThrottledError,
    "ServiceException": LambdaServiceError,
    "ServiceUnavailableException": LambdaServiceError,
    "InternalServerException": LambdaServiceError,
}


def named_error(exc: ClientError | BotoCoreError, what: str) -> ApplyError:
    """The ApplyError for a failed call. No answer at all (a connection error or a read timeout, after
    botocore's retries) is a service error: the request may or may not have been carried out, so
    whatever the step started is undone, as after a 5xx."""
    if isinstance(exc, BotoCoreError):
        return LambdaServiceError(f"{what}: no answer from AWS ({type(exc).__name__}: {exc})")
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    kind = _ERRORS.get(code, LambdaServiceError if status >= 500 else ApplyError)
    return kind(f"{what}: {code or status} {exc.response.get('Error', {}).get('Message', '')}".strip())
