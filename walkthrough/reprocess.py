"""Reprocessing: run the function again over the images already in the raw bucket.

The common reason: the watermark, the size or the output format changed
(the function's configuration), and the images processed before still show
the old one. Uploading them again would work but needs the originals; this
asks the function to process what is in the raw bucket now, all of it or the
keys under a prefix, then invalidates the processed images that changed, so
CloudFront stops serving the old versions before their day of caching ends.

How the function is asked. Each source object gets one synchronous
``Invoke`` (``RequestResponse``) whose payload is an S3 event record, the
shape S3 itself sends for an upload: the function runs the very code path of
an upload (recursion guard, order, read, transform, write, record) and
nothing else. Synchronous, because the answer is the result: when the call
returns the object is processed (or the function said why not), so there is
no polling of the table, no guessing whether a retry is still pending, and a
failure is reported for its key at once; a few calls run in parallel
(``concurrency``), within the account's concurrency, where asynchronous
events would all be queued at once. The record carries the object's current
ETag and no ``sequencer`` (only S3 can make those): the function trusts the
ETag, keeps the order it recorded from S3's own events, and a real upload
that lands meanwhile still wins. This works the same on AWS and on the
emulator; on AWS each call is billed like any invocation.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote_plus

from walkthrough import aws, cdn, diagnose, pipeline
from walkthrough.config import Settings
from walkthrough.errors import WalkthroughError
from walkthrough.progress import Progress

#: Invocations at once: quick on the emulator, gentle with a new account's concurrency on AWS.
CONCURRENCY = 4
#: Above this many changed images, one ``/*`` invalidation: each path counts towards CloudFront's
#: 1,000 free paths a month, and ``/*`` is one path however many images it clears.
MAX_LISTED_PATHS = 10
CONFIGURATION_ID = "walkthrough-reprocess"


@dataclass
class Reprocessed:
    """What one reprocessing run did: one row per source object, the invalidation, the time it took."""

    rows: list[dict[str, Any]]
    invalidation: dict[str, Any] | None
    seconds: float
    prefix: str = ""
    changed: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The counts a person checks: objects, outcomes, changed images, what was invalidated."""
        outcomes: dict[str, int] = {}
        for row in self.rows:
            outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + 1
        invalidated = ", ".join(self.invalidation["paths"]) if self.invalidation else "nothing"
        return {
            "prefix": self.prefix or "(all)",
            "objects": len(self.rows),
            **{f"{name}": count for name, count in sorted(outcomes.items())},
            "images changed": len(self.changed),
            "invalidated": invalidated + (f" ({self.invalidation['status']})" if self.invalidation else ""),
        }


def source_keys(settings: Settings, prefix: str = "") -> list[str]:
    """The raw bucket's object keys under ``prefix``, sorted (folder markers left out)."""
    s3 = aws.client(settings, "s3")
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.raw_bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/")]
    return sorted(keys)


def s3_event(settings: Settings, key: str, size: int, etag: str) -> dict[str, Any]:
    """An S3 ObjectCreated record for an object as it is now (key URL-encoded as S3 writes it; no sequencer)."""
    return {"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": settings.region,
        "eventTime": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": CONFIGURATION_ID},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": CONFIGURATION_ID,
            "bucket": {"name": settings.raw_bucket, "arn": f"arn:aws:s3:::{settings.raw_bucket}"},
            "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag},
        },
    }]}


def _processed_etag(settings: Settings, item: dict[str, Any] | None) -> tuple[str, str] | None:
    """(processed key, its ETag) of what an item names, if it is there."""
    if not item or not item.get("processed_key"):
        return None
    s3 = aws.client(settings, "s3")
    try:
        return item["processed_key"], s3.head_object(Bucket=settings.processed_bucket, Key=item["processed_key"])["ETag"]
    except s3.exceptions.ClientError:
        return None


def reprocess_one(settings: Settings, key: str) -> dict[str, Any]:
    """Run the function on one source object, synchronously; one row: outcome, output, whether it changed."""
    s3, lam = aws.client(settings, "s3"), aws.client(settings, "lambda")
    before = _processed_etag(settings, pipeline.metadata_item(settings, key))
    try:
        head = s3.head_object(Bucket=settings.raw_bucket, Key=key)
    except s3.exceptions.ClientError:
        return {"key": key, "outcome": "missing", "processed_key": "", "changed": False, "detail": "no longer in the raw bucket"}
    event = s3_event(settings, key, int(head["ContentLength"]), head["ETag"].strip('"'))
    response = lam.invoke(FunctionName=settings.function_name, Payload=json.dumps(event).encode())
    answer = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        detail = f"{answer.get('errorType', 'Error')}: {answer.get('errorMessage', '')}" if isinstance(answer, dict) else str(answer)
        known = diagnose.sign_of(detail)
        return {"key": key, "outcome": "error", "processed_key": "", "changed": False,
                "detail": detail[:300] + (f" (see {diagnose.section(known[0])})" if known else "")}
    counts = answer if isinstance(answer, dict) else {}
    outcome = next((name for name, count in counts.items() if name != "records" and count), "unknown")
    item = pipeline.metadata_item(settings, key)
    after = _processed_etag(settings, item) if outcome == "processed" else None
    return {
        "key": key,
        "outcome": outcome,
        "processed_key": after[0] if after else "",
        "changed": bool(after and after != before),
        "detail": f"{item.get('width')}x{item.get('height')}" if outcome == "processed" and item else (item or {}).get("error", ""),
    }


def reprocess(settings: Settings, prefix: str = "", invalidate: bool = True, concurrency: int = CONCURRENCY,
              progress: bool = True) -> Reprocessed:
    """Process every source object under ``prefix`` again; invalidate the processed images that changed.

    A progress bar follows the objects; the result has one row per object
    (``processed``, ``failed`` with the reason, ``error`` when the function
    raised, ...) and a ``summary()``.
    """
    started = time.monotonic()
    aws.client(settings, "lambda").get_function(FunctionName=settings.function_name)  # a clear error before any work
    keys = source_keys(settings, prefix)
    if not keys:
        raise WalkthroughError(f"No objects under {prefix!r} in s3://{settings.raw_bucket}: nothing to reprocess"
                               + (" (the prefix is case-sensitive)." if prefix else "."))
    rows: list[dict[str, Any]] = []
    with Progress(len(keys), f"reprocessing s3://{settings.raw_bucket}/{prefix}", "image", disable=not progress) as bar:
        with ThreadPoolExecutor(max(1, concurrency)) as pool:
            for future in as_completed([pool.submit(reprocess_one, settings, key) for key in keys]):
                rows.append(future.result())
                bar.update(1)
    rows.sort(key=lambda r: r["key"])
    changed = [r["processed_key"] for r in rows if r["changed"]]
    invalidation = None
    if invalidate and changed and cdn.find_distribution(settings) is not None:  # no CloudFront yet: nothing is cached
        invalidation = cdn.invalidate(settings, ["*"] if len(changed) > MAX_LISTED_PATHS else changed, progress=progress)
    return Reprocessed(rows, invalidation, time.monotonic() - started, prefix, changed)
