"""Shared pieces of the handler tests: loading the deployed file, images, events, moto state.

The Lambda function is one file deployed alone, so it is loaded by path (it is
not part of the walkthrough package). AWS is always moto's ``mock_aws`` with
fake credentials and no endpoint override, so nothing can reach real AWS or
the emulator.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator
from urllib.parse import quote_plus

import boto3
import pytest
from moto import mock_aws
from PIL import Image, ImageDraw

HANDLER_PATH = Path(__file__).resolve().parents[1] / "lambda_function" / "lambda_function.py"
PHOTO_PATH = Path(__file__).resolve().parents[1] / "notebooks" / "data" / "photo.jpg"
MODULE_NAME = "deployed_lambda_function"  # not "lambda_function": that is the folder

RAW = "raw-image-bucket"
PROCESSED = "processed-image-bucket"
TABLE = "ImageMetadata"
REGION = "us-east-1"

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "PROCESSED_BUCKET": PROCESSED,
    "METADATA_TABLE": TABLE,
}
# Anything that could point boto3 somewhere else, or change the function's defaults.
CLEARED_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_PROFILE",
    "MAX_DIMENSION",
    "WATERMARK_TEXT",
    "OUTPUT_PREFIX",
    "MAX_UPLOAD_BYTES",
    "SOURCE_BUCKET",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
)


def load_handler() -> ModuleType:
    """The deployed file as a module, loaded once per test session."""
    module = sys.modules.get(MODULE_NAME)
    if module is None:
        spec = importlib.util.spec_from_file_location(MODULE_NAME, HANDLER_PATH)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[MODULE_NAME] = module
        spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------


def photo(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A small picture with structure (gradient, shapes), in the given mode."""
    gradient = Image.linear_gradient("L").resize((width, height))
    across = Image.linear_gradient("L").transpose(Image.Transpose.ROTATE_90).resize((width, height))
    base = Image.merge("RGB", (gradient, across, gradient.point(lambda v: 255 - v)))
    draw = ImageDraw.Draw(base)
    draw.ellipse((width // 4, height // 4, width * 3 // 4, height * 3 // 4), fill=(200, 40, 40))
    draw.rectangle((0, 0, max(0, width // 5), max(0, height // 5)), fill=(20, 20, 220))
    if mode == "RGB":
        return base
    if mode in ("RGBA", "LA", "PA"):
        alpha = Image.radial_gradient("L").resize((width, height))
        rgba = base.copy()
        rgba.putalpha(alpha)
        if mode == "PA":
            return rgba.convert("P", palette=Image.Palette.ADAPTIVE).convert("PA")
        return rgba.convert(mode)
    if mode == "P":
        return base.convert("P", palette=Image.Palette.ADAPTIVE)
    if mode == "I;16":
        return base.convert("L").point(lambda v: v * 257, "I").convert("I;16")
    if mode == "I":
        return base.convert("L").point(lambda v: v * 1000, "I")
    if mode == "F":
        return base.convert("L").convert("F").point(lambda v: v / 255.0)
    return base.convert(mode)


def encode(img: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg(width: int = 64, height: int = 48, **options: Any) -> bytes:
    return encode(photo(width, height), "JPEG", quality=90, **options)


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height RGB pixels but carries almost no data.

    A real decompression bomb would be megabytes of compressed zeros; the
    header is what the function must refuse on, before decoding anything.
    """

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# --------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------


def s3_record(
    bucket: str,
    key: str,
    *,
    size: int,
    etag: str | None = None,
    sequencer: str | None = "0062E99A88DC407460",
    event_name: str = "ObjectCreated:Put",
    encode_slash: bool = False,
) -> dict[str, Any]:
    """One record shaped like AWS's documented S3 event (eventVersion 2.1).

    The key is URL-encoded as S3 does it: a space becomes ``+``, a ``+``
    becomes ``%2B``, non-ASCII characters are percent-encoded UTF-8.
    """
    obj: dict[str, Any] = {"key": quote_plus(key, safe="" if encode_slash else "/"), "size": size}
    if etag is not None:
        obj["eTag"] = etag
    if sequencer is not None:
        obj["sequencer"] = sequencer
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": "2026-05-09T07:35:25.123Z",
        "eventName": event_name,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.10"},
        "responseElements": {
            "x-amz-request-id": "C3D13FE58DE4C810",
            "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "raw-image-upload",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": obj,
        },
    }


def s3_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def api_request(body: Any, *, base64_body: bool = False, method: str = "POST") -> dict[str, Any]:
    """An API Gateway REST proxy request (payload format 1.0)."""
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    if base64_body and text is not None:
        text = base64.b64encode(text.encode()).decode()
    return {
        "resource": "/process",
        "path": "/process",
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "queryStringParameters": None,
        "pathParameters": None,
        "requestContext": {"resourcePath": "/process", "httpMethod": method, "stage": "prod"},
        "body": text,
        "isBase64Encoded": base64_body,
    }


# --------------------------------------------------------------------------
# moto state
# --------------------------------------------------------------------------


@dataclass
class AwsWorld:
    """The two buckets and the table in moto, with the reads the tests need."""

    handler: ModuleType
    s3: Any
    dynamodb: Any

    def upload(self, key: str, data: bytes, *, bucket: str = RAW, **record: Any) -> dict[str, Any]:
        """Put an object and return the S3 event record AWS would send for it."""
        response = self.s3.put_object(Bucket=bucket, Key=key, Body=data)
        record.setdefault("etag", response["ETag"].strip('"'))
        return s3_record(bucket, key, size=len(data), **record)

    def invoke(self, event: Any) -> Any:
        return self.handler.lambda_handler(event, None)

    def item(self, key: str) -> dict[str, Any] | None:
        """The metadata item as plain values (N as int), or None."""
        response = self.dynamodb.get_item(TableName=TABLE, Key={"filename": {"S": key}}, ConsistentRead=True)
        if "Item" not in response:
            return None
        return {
            name: int(value["N"]) if "N" in value else value["S"]
            for name, value in response["Item"].items()
        }

    def items(self) -> list[dict[str, Any]]:
        return self.dynamodb.scan(TableName=TABLE)["Items"]

    def outputs(self) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=PROCESSED)
        return sorted(obj["Key"] for obj in listing.get("Contents", []))

    def output(self, key: str) -> tuple[bytes, dict[str, Any]]:
        response = self.s3.get_object(Bucket=PROCESSED, Key=key)
        return response["Body"].read(), response


def set_fake_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_ENV.items():
        monkeypatch.setenv(name, value)


_test_clients: dict[str, Any] = {}


def _test_client(service: str) -> Any:
    """The tests' own clients, made once: moto intercepts every client while mocking."""
    if service not in _test_clients:
        _test_clients[service] = boto3.client(
            service, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
    return _test_clients[service]


def create_world(handler: ModuleType) -> AwsWorld:
    """Inside mock_aws: the raw and processed buckets and the ImageMetadata table."""
    s3, dynamodb = _test_client("s3"), _test_client("dynamodb")
    for bucket in (RAW, PROCESSED):
        s3.create_bucket(Bucket=bucket)
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "filename", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "filename", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    handler._clients.clear()  # the function's cached clients must be moto's
    return AwsWorld(handler=handler, s3=s3, dynamodb=dynamodb)


@pytest.fixture
def handler() -> ModuleType:
    return load_handler()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, handler: ModuleType) -> Iterator[AwsWorld]:
    """Fresh moto state for one test: env, buckets, table; the function's clients reset."""
    set_fake_env(monkeypatch)
    with mock_aws():
        yield create_world(handler)
    handler._clients.clear()
