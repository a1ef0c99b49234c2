"""One exception type for everything a user can fix, with a one-line message.

Deep botocore tracebacks teach nothing in a notebook or a terminal; the CLI and
the notebook helpers print ``WalkthroughError`` as a single line that names the
fix, and ``explain`` turns the common low-level failures into one.
"""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
)


class WalkthroughError(Exception):
    """A problem the user can fix; ``str()`` is one line that says how."""


def explain(exc: BaseException, endpoint: str | None = None) -> WalkthroughError | None:
    """Translate a low-level exception into a one-line ``WalkthroughError``.

    Returns ``None`` when the exception is not one we know how to explain, so
    callers re-raise the original (a real bug should keep its traceback).
    """
    if isinstance(exc, WalkthroughError):
        return exc
    if isinstance(exc, EndpointConnectionError):
        where = endpoint or getattr(exc, "kwargs", {}).get("endpoint_url", "the endpoint")
        return WalkthroughError(
            f"Cannot reach {where}. For the local emulator run "
            "`python -m walkthrough emulator start`; for AWS check your network and AWS_ENDPOINT_URL."
        )
    if isinstance(exc, NoCredentialsError):
        return WalkthroughError(
            "No AWS credentials found for target 'aws'. Run `aws configure` (or set AWS_PROFILE), "
            "or use the local emulator with target 'local'."
        )
    if isinstance(exc, ProfileNotFound):
        return WalkthroughError(f"{exc}. Fix AWS_PROFILE or create the profile with `aws configure --profile`.")
    if isinstance(exc, NoRegionError):
        return WalkthroughError("No region set: pass --region or set WALKTHROUGH_REGION.")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Error")
        if code in {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"}:
            return WalkthroughError(f"AWS refused the credentials ({code}): refresh them, e.g. `aws sso login`.")
        return None
    return None
