"""Diagnosing a failure: the one line that says what went wrong and how to fix it.

``explain`` turns the common low-level failures (no endpoint, no credentials,
a resource the emulator no longer has because its in-memory state was lost)
into a ``WalkthroughError``; ``notebook_failure`` does the same for a
notebook that failed under papermill, naming the notebook and the cell. The
CLI and the notebooks' error display (``show.friendly_errors``) use them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
)

from walkthrough import aws
from walkthrough.errors import WalkthroughError


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
        missing = missing_resource(exc)
        if missing is not None:
            return _lost_state(*missing)
        return None
    return None


RERUN = "Run the notebooks again from 00_setup (or `python -m walkthrough run`)."
_DYNAMODB_ITEM_OPERATIONS = {
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
    "TransactGetItems", "TransactWriteItems", "DescribeTable", "UpdateTable", "DeleteTable",
}


def missing_resource(exc: ClientError) -> tuple[str, str | None] | None:
    """(kind, name) of the bucket, table, function, role or log group a not-found error names, else None."""
    error = exc.response.get("Error", {})
    code, message = error.get("Code", ""), str(error.get("Message") or error.get("message") or "")
    if code == "NoSuchBucket":
        return "bucket", error.get("BucketName") or None
    if code == "NoSuchEntity":
        found = re.search(r"[Rr]ole (?:with name )?(\S+?)\.? (?:not found|cannot be found)", message)
        return "role", found.group(1) if found else None
    if code != "ResourceNotFoundException":
        return None
    if "Function not found" in message:
        found = re.search(r"function:([^:\s]+)", message)
        return "function", found.group(1) if found else None
    if "log group" in message.lower():
        return "log group", None
    found = re.search(r"Table: (\S+) not found", message)
    if found or exc.operation_name in _DYNAMODB_ITEM_OPERATIONS or "Requested resource not found" in message:
        return "table", found.group(1) if found else None
    return None


def _lost_state(kind: str, name: str | None) -> WalkthroughError | None:
    """The one-line story of a resource the local emulator no longer has (None unless an emulator was used)."""
    restarted = aws.emulator_restarted()
    if restarted is None:
        return None  # not the local emulator (or one we cannot see): keep the original error
    what = f"{kind} '{name}'" if name else f"such {kind}"
    if restarted:
        return WalkthroughError(
            f"The emulator has no {what}: its state lives in memory and was lost when it stopped or restarted. {RERUN}"
        )
    return WalkthroughError(
        f"The emulator has no {what}: it was deleted (99_cleanup, `python -m walkthrough down`) or lost when the "
        f"emulator last restarted (its state lives in memory). {RERUN}"
    )


def notebook_failure(notebook: Path, output: Path, error: Any) -> WalkthroughError:
    """One line for a notebook papermill could not run: the notebook, the cell, the reason, the executed copy."""
    reason = f"{error.ename}: {error.evalue}".strip().splitlines()[0]
    return WalkthroughError(f"{notebook.stem}, cell {error.exec_count}: {reason} (executed copy: {output})")
