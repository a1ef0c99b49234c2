"""Step 7: the pipeline at work — upload, wait for the function, read back what it made.

An upload returns before the function has run (S3 invokes it asynchronously),
so every wait polls the metadata item until it records *this* upload (same
ETag), then reads the processed object the item names.
"""

from __future__ import annotations

import mimetypes
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from boto3.dynamodb.types import TypeDeserializer

from walkthrough import aws, diagnose
from walkthrough.config import Settings
from walkthrough.errors import WalkthroughError
from walkthrough.progress import Progress

_DESERIALIZE = TypeDeserializer().deserialize
#: The tutorial's sample photo (CC0, see notebooks/data/CREDITS.md).
SAMPLE_PHOTO = Path(__file__).resolve().parent.parent / "notebooks" / "data" / "photo.jpg"


@dataclass
class Upload:
    key: str
    bytes: int
    etag: str
    started: float  # time.monotonic() just before the upload
    previous: str | None = None  # the item's timestamp before this upload, if it had one


def upload(settings: Settings, path: str | Path, key: str | None = None) -> Upload:
    """Put one local file into the raw bucket (what the console's Upload button does)."""
    path = Path(path)
    key = key or path.name
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    body = path.read_bytes()
    before = metadata_item(settings, key)  # so a re-upload of the same bytes is told apart from the last result
    started = time.monotonic()
    response = aws.client(settings, "s3").put_object(Bucket=settings.raw_bucket, Key=key, Body=body, ContentType=content_type)
    return Upload(key, len(body), response["ETag"].strip('"'), started, before.get("timestamp") if before else None)


def metadata_item(settings: Settings, key: str, dynamodb: Any = None) -> dict[str, Any] | None:
    """The ImageMetadata item for ``key`` as plain Python values, or None.

    Polling loops pass their ``dynamodb`` client: resolving it costs a look
    at the emulator on every call (``aws.client``), more than the read itself.
    """
    response = (dynamodb or aws.client(settings, "dynamodb")).get_item(
        TableName=settings.table_name, Key={"filename": {"S": key}}, ConsistentRead=True
    )
    item = response.get("Item")
    if item is None:
        return None
    return {name: _plain(_DESERIALIZE(value)) for name, value in item.items()}


def _plain(value: Any) -> Any:
    """DynamoDB numbers arrive as Decimal; show whole numbers as int."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _recorded(settings: Settings, item_upload: Upload, dynamodb: Any = None) -> dict[str, Any] | None:
    item = metadata_item(settings, item_upload.key, dynamodb)
    if (
        item
        and item.get("status") in ("processed", "failed")
        and item.get("etag", item_upload.etag) == item_upload.etag
        and item.get("timestamp") != item_upload.previous
    ):
        return item
    return None


def wait_for_result(settings: Settings, item_upload: Upload, timeout_s: float = 60.0, progress: bool = True) -> dict[str, Any]:
    """Wait until the function has recorded this upload; returns the item plus the latency.

    The bar counts the seconds of the time-out; it ends full and green when the result
    comes (saying after how long), red when the time-out passes.
    """
    dynamodb = aws.client(settings, "dynamodb")
    with Progress(round(timeout_s), f"waiting for {item_upload.key}", "s", disable=not progress) as bar:
        while True:
            item = _recorded(settings, item_upload, dynamodb)
            elapsed = time.monotonic() - item_upload.started
            if item:
                bar.succeed(f"recorded after {elapsed:.2f} s")
                return {**item, "latency_s": round(elapsed, 3)}
            if elapsed > timeout_s:
                raise diagnose.no_result(settings, item_upload.key, timeout_s)
            bar.set(round(elapsed))
            time.sleep(0.05)


def process(settings: Settings, path: str | Path, key: str | None = None, timeout_s: float = 60.0) -> dict[str, Any]:
    """Upload one file and wait for its result (the document's "upload photo.jpg" test)."""
    return wait_for_result(settings, upload(settings, path, key), timeout_s)


def read_object(settings: Settings, bucket: str, key: str) -> bytes:
    return aws.client(settings, "s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def processed_object(settings: Settings, item: dict[str, Any]) -> dict[str, Any]:
    """The processed object an item names: its bytes and the headers CloudFront will pass on."""
    response = aws.client(settings, "s3").get_object(Bucket=settings.processed_bucket, Key=item["processed_key"])
    return {
        "key": item["processed_key"],
        "bytes": response["Body"].read(),
        "content_type": response.get("ContentType"),
        "cache_control": response.get("CacheControl"),
    }


def process_batch(settings: Settings, paths: Iterable[str | Path], timeout_s: float = 120.0, uploaders: int = 4) -> list[dict[str, Any]]:
    """Upload several files at once and collect each one's latency, with a progress bar."""
    paths = list(paths)
    with ThreadPoolExecutor(uploaders) as pool:
        uploads = list(pool.map(lambda p: upload(settings, p), paths))
    rows = []
    deadline = time.monotonic() + timeout_s
    pending = {u.key: u for u in uploads}
    dynamodb = aws.client(settings, "dynamodb")
    with Progress(len(uploads), "processing batch", "image") as bar:
        while pending:
            for key, item_upload in list(pending.items()):
                item = _recorded(settings, item_upload, dynamodb)
                if item:
                    rows.append({
                        "file": key, "status": item["status"], "latency_s": round(time.monotonic() - item_upload.started, 3),
                        "size": item.get("size"), "processed_key": item.get("processed_key", ""),
                        "dimensions": f"{item.get('width', '')}x{item.get('height', '')}" if item.get("width") else "",
                        "error": item.get("error", ""),
                    })
                    del pending[key]
                    bar.update(1)
            if pending and time.monotonic() > deadline:
                raise WalkthroughError(f"{len(pending)} of {len(uploads)} uploads had no result after {timeout_s:.0f} s: {sorted(pending)[:5]}")
            time.sleep(0.05)
    return sorted(rows, key=lambda r: r["file"])


def latency_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and worst upload-to-metadata latency of a batch."""
    latencies = [r["latency_s"] for r in rows]
    return {"images": len(rows), "median_s": round(statistics.median(latencies), 3), "worst_s": round(max(latencies), 3)}
