"""A burst of uploads: nothing lost, nothing duplicated, concurrency bounded, the excess waits.

200 small generated JPEGs are uploaded at once through the emulator into the
tutorial's real pipeline (least-privilege role enforced). The emulator runs at
most its concurrency limit at a time (``WALKTHROUGH_EMULATOR_CONCURRENCY``,
4 by default) or a function's reserved concurrency when it has one.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from walkthrough import Settings, sequence

pytestmark = [pytest.mark.emulator, pytest.mark.slow]
IMAGES = 200


def own(emulator, path: str) -> dict:
    return emulator.control(f"_walkthrough/{path}")


def jpeg(index: int) -> bytes:
    image = Image.new("RGB", (64, 64), ((index * 37) % 256, (index * 91) % 256, (index * 53) % 256))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def test_two_hundred_uploads_at_once_give_two_hundred_outputs_and_items(emulator):
    suffix = uuid.uuid4().hex[:8]
    settings = Settings.from_env(endpoint_url=emulator.endpoint, region="us-east-1").with_(
        raw_bucket=f"raw-{suffix}", processed_bucket=f"processed-{suffix}", table_name=f"Meta{suffix}",
        role_name=f"Role{suffix}", function_name=f"Fn{suffix}",
    )
    sequence.ensure_before(settings, 6)
    emulator.wait_idle(60)
    limit = own(emulator, "health")["concurrency"]
    s3, dynamodb = emulator.client("s3"), emulator.client("dynamodb")
    keys = [f"burst/{i:03d}.jpg" for i in range(IMAGES)]
    started = time.perf_counter()
    with ThreadPoolExecutor(16) as uploaders:
        list(uploaders.map(lambda i: s3.put_object(Bucket=settings.raw_bucket, Key=keys[i], Body=jpeg(i), ContentType="image/jpeg"), range(IMAGES)))
    uploaded = time.perf_counter() - started
    emulator.wait_idle(240)
    processed = time.perf_counter() - started

    outputs = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.processed_bucket) for o in page.get("Contents", [])]
    assert sorted(outputs) == sorted(k.replace("burst/", "burst/processed-") for k in keys)
    items = [i for page in dynamodb.get_paginator("scan").paginate(TableName=settings.table_name) for i in page["Items"]]
    assert sorted(i["filename"]["S"] for i in items) == keys  # one item per upload: none lost, none twice
    assert {i["status"]["S"] for i in items} == {"processed"}
    stats = own(emulator, f"function?name={settings.function_name}")
    assert stats["invocations"] == IMAGES and stats["errors"] == 0  # one invocation per upload, no retry needed
    assert 1 < stats["max_concurrent_invocations"] <= limit  # bounded: the excess waited
    print(f"\n{IMAGES} uploads in {uploaded:.1f} s, all processed after {processed:.1f} s "
          f"({IMAGES / processed:.1f} images/s); at most {stats['max_concurrent_invocations']} of {limit} running at once")


SLOW = "import time\ndef lambda_handler(event, context):\n    time.sleep(0.3)\n    return event\n"


def test_reserved_concurrency_bounds_one_function_and_the_excess_waits(emulator):
    lam = emulator.client("lambda")
    name = emulator.deploy(SLOW)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    for n in range(8):
        assert lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"n": n}).encode())["StatusCode"] == 202
    emulator.wait_idle(60)
    stats = own(emulator, f"function?name={name}")
    assert stats["invocations"] == 8 and stats["errors"] == 0
    assert stats["max_concurrent_invocations"] == 2
