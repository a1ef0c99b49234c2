"""Diagnosing a failure: the one line that says what went wrong and how to fix it.

``explain`` turns the common low-level failures (no endpoint, no credentials,
a resource the emulator no longer has because its in-memory state was lost,
and the classic mistakes of this pipeline, by AWS's own words) into a
``WalkthroughError``; ``explain_function_log`` finds those words in a
function's log. Both name the section of ``09_when_it_goes_wrong`` that
causes the failure on purpose and fixes it; ``notebook_failure`` does the same for a
notebook that failed under papermill, naming the notebook and the cell. The
CLI and the notebooks' error display (``show.friendly_errors``) use them.
"""

from __future__ import annotations

import json
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
        known = sign_of(f"{code} {error.get('Message', '')}")
        if known is not None and known[0] in ("permission", "public", "cache", "access-denied"):
            return WalkthroughError(f"{exc} ({known[1]}; see {section(known[0])}).")
        return None
    return None


RERUN = "Run the notebooks again from 00_setup (or `python -m walkthrough run`)."
#: DynamoDB answers a missing table with a bare ResourceNotFoundException on these.
_DYNAMODB_ITEM_OPERATIONS = {
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
    "TransactGetItems", "TransactWriteItems", "DescribeTable", "UpdateTable", "DeleteTable",
}

#: The notebook that causes each classic failure on purpose and fixes it, and its sections, by key.
WHEN_IT_GOES_WRONG = "09_when_it_goes_wrong"
SECTIONS: dict[str, str] = {
    "no-layer": "No Pillow layer",
    "layer-python": "A layer built for another Python",
    "defaults": "Lambda's defaults: 128 MB and 3 seconds",
    "read-only": "Writing next to the code",
    "access-denied": "The role lacks dynamodb:PutItem",
    "permission": "The notification before the permission",
    "keys": "Keys with spaces or +",
    "loop": "A function that writes into its own trigger",
    "public": "A public ACL or a public bucket policy",
    "cache": "CloudFront still serves the old image",
    "reprocess": "A new watermark, and the images made before it",
}


def section(key: str) -> str:
    """Where the notebook explains a failure: ``09_when_it_goes_wrong, section 5 "The role lacks dynamodb:PutItem"``."""
    number = list(SECTIONS).index(key) + 1
    return f'{WHEN_IT_GOES_WRONG}, section {number} "{SECTIONS[key]}"'


#: AWS's words in a function's log or an API error, the failure they mean, and its fix in a few words.
_SIGNS: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"Unable to import module '[^']+': No module named 'PIL'"), "no-layer",
     "the function has no Pillow layer: deploy it with one (notebook 04)"),
    (re.compile(r"cannot import name '_imaging'"), "layer-python",
     "its Pillow layer was built for another Python: build it for the function's runtime"),
    (re.compile(r"Runtime\.OutOfMemory|Task timed out after [\d.]+ seconds"), "defaults",
     "the function ran out of memory or time: give it more (MemorySize, Timeout), or decode less"),
    (re.compile(r"\[Errno 30\] Read-only file system"), "read-only",
     "the function wrote next to its code: write to /tmp, or keep the image in memory"),
    (re.compile(r"is not authorized to perform: (\S+)"), "access-denied",
     "the identity making the call lacks that permission: add it to the role's policy"),
    (re.compile(r"Unable to validate the following destination configurations"), "permission",
     "S3 may not invoke the function yet: add the permission for s3.amazonaws.com first, then the notification"),
    (re.compile(r"HeadObject operation: (Not Found|Forbidden)|\(NoSuchKey\)"), "keys",
     "the function looked for a key that is not there: S3 sends keys URL-encoded (unquote_plus them)"),
    (re.compile(r"recursive loop"), "loop",
     "the function writes into the bucket that triggers it: write to another bucket"),
    (re.compile(r"AccessControlListNotSupported|public policies are blocked by the BlockPublicPolicy|"
                r"InvalidBucketAclWithObjectOwnership"), "public",
     "the bucket stays private: serve it through CloudFront instead"),
    (re.compile(r"invalid invalidation paths"), "cache",
     "invalidation paths start with / and may end with one *"),
]


def sign_of(text: str) -> tuple[str, str] | None:
    """(section key, the fix in a few words) for the first known failure ``text`` shows, else None."""
    for pattern, key, fix in _SIGNS:
        if pattern.search(text or ""):
            return key, fix
    return None


def explain_function_log(lines: list[str]) -> str | None:
    """One sentence for the last known failure in a function's log lines, naming the notebook section; else None."""
    for line in reversed(lines):
        found = sign_of(line)
        if found:
            key, fix = found
            return f"Its log says {_quote(line)}: {fix} (see {section(key)})."
    return None


def _quote(line: str) -> str:
    """The telling part of a log line (a JSON record's ``errorMessage``, a Text line after ``[ERROR]``), on one short line."""
    text = line
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if isinstance(record, dict):
        text = str(record.get("errorMessage") or record.get("message") or line)
    elif "[ERROR] " in line:
        text = line.split("[ERROR] ", 1)[1]
    text = " ".join(text.split())
    return repr(text if len(text) <= 160 else text[:157] + "...")


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


def no_result(settings: Any, key: str, timeout_s: float) -> WalkthroughError:
    """The one line for an upload the function never recorded: what its log says, else where to look."""
    from walkthrough import lambda_fn

    try:
        lines = lambda_fn.recent_log_lines(settings, minutes=15, limit=400)
    except Exception:  # noqa: BLE001 - the log is a hint; the timeout is the error
        lines = []
    told = explain_function_log(lines)
    if told is None and not lines:
        told = (f"The function has not logged anything: check step 5's trigger (notebook 05; see {section('permission')}).")
    return WalkthroughError(f"No result for {key} after {timeout_s:.0f} s. "
                            + (told or "Check the function's log (lambda_fn.recent_log_lines) and that step 5's trigger is configured."))


def notebook_failure(notebook: Path, output: Path, error: Any) -> WalkthroughError:
    """One line for a notebook papermill could not run: the notebook, the cell, the reason, the executed copy."""
    reason = f"{error.ename}: {error.evalue}".strip().splitlines()[0]
    return WalkthroughError(f"{notebook.stem}, cell {error.exec_count}: {reason} (executed copy: {output})")
