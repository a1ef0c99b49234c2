"""Handlers as people write them from tutorials: AWS's own S3 thumbnail example, and the one-line slips that break it.

``TUTORIAL`` is the handler of AWS's "Tutorial: Using an Amazon S3 trigger to
create thumbnail images" (https://docs.aws.amazon.com/lambda/latest/dg/with-s3-tutorial.html):
download to ``/tmp``, resize with Pillow, upload under ``resized-<key>`` to
another bucket, with one common addition: ``ImageOps.exif_transpose``, so
photos taken on a phone come out the right way up (it decodes the whole
image). Each mistake is that file with one line changed, as
``09_when_it_goes_wrong`` deploys them; ``diff(name)`` shows the line.

These are sources, deployed as a function's ``lambda_function.py``; nothing
here is imported or run by the walkthrough itself.
"""

from __future__ import annotations

import difflib

TUTORIAL = '''\
import os
import uuid
from urllib.parse import unquote_plus

import boto3
from PIL import Image, ImageOps

s3_client = boto3.client("s3")


def resize_image(image_path, resized_path):
    with Image.open(image_path) as image:
        image = ImageOps.exif_transpose(image)  # phones store photos sideways, with a tag saying so
        image.thumbnail((1024, 1024))
        image.save(resized_path)


def lambda_handler(event, context):
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        tmpkey = key.replace("/", "")
        download_path = "/tmp/{}{}".format(uuid.uuid4(), tmpkey)
        upload_path = "/tmp/resized-{}".format(tmpkey)
        s3_client.download_file(bucket, key, download_path)
        resize_image(download_path, upload_path)
        s3_client.upload_file(upload_path, os.environ["PROCESSED_BUCKET"], "resized-{}".format(key))
'''

#: name -> (the tutorial's line, the line people write instead)
SLIPS: dict[str, tuple[str, str]] = {
    # S3 sends the key URL-encoded: "my photo+1.jpg" arrives as "my+photo%2B1.jpg".
    "keys not decoded": ('        key = unquote_plus(record["s3"]["object"]["key"])\n',
                         '        key = record["s3"]["object"]["key"]\n'),
    # The output goes back into the bucket that triggers the function.
    "writes into its trigger": ('        s3_client.upload_file(upload_path, os.environ["PROCESSED_BUCKET"], "resized-{}".format(key))\n',
                                '        s3_client.upload_file(upload_path, bucket, "resized-{}".format(key))\n'),
    # A relative path: the working directory is /var/task, where the code is.
    "writes next to the code": ('        upload_path = "/tmp/resized-{}".format(tmpkey)\n',
                                '        upload_path = "resized-{}".format(tmpkey)\n'),
}


def source(slip: str | None = None) -> str:
    """The tutorial's handler, or the handler with one slip (a name of ``SLIPS``)."""
    if slip is None:
        return TUTORIAL
    if slip not in SLIPS:
        raise ValueError(f"unknown slip {slip!r}: one of {', '.join(SLIPS)}")
    right, wrong = SLIPS[slip]
    assert TUTORIAL.count(right) == 1
    return TUTORIAL.replace(right, wrong)


def diff(slip: str) -> str:
    """The slip as a unified diff against the tutorial's handler (what a reviewer would see)."""
    return "".join(difflib.unified_diff(TUTORIAL.splitlines(keepends=True), source(slip).splitlines(keepends=True),
                                        "tutorial/lambda_function.py", "yours/lambda_function.py", n=1))
