"""When it goes wrong: the classic failures of this pipeline, made on purpose, shown as AWS shows them, then fixed.

Each ``cause_*`` function makes one mistake people make when they build the
pipeline from the document, on the pipeline as it is, and returns a
``Failure``: what was done, where AWS shows the consequence (the Lambda
console's Test, the AWS CLI, the function's log in CloudWatch Logs, a
browser) and the words it shows there, read from the service, never written
here. ``fix(settings, failure)`` does it the right way and puts back
everything the mistake changed; ``check(settings, failure)`` shows the
pipeline working again and removes the objects the section made. So each
section of ``09_when_it_goes_wrong`` leaves the pipeline as it found it.

On AWS the same functions make the same mistakes (a few cents), and wait
where AWS is eventually consistent: a role's new policy and a function's
removed permission take seconds to apply, a log line seconds to arrive.
"""

from __future__ import annotations

import html
import io
import json
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote_plus, urlsplit

from botocore.exceptions import ClientError

from walkthrough import aws, cdn, iam, lambda_fn, layer, learner_code, packaging, pipeline, reprocess, sequence, show, trigger
from walkthrough.config import Settings
from walkthrough.diagnose import SECTIONS
from walkthrough.emulator import lifecycle
from walkthrough.errors import WalkthroughError

#: Every object a section uploads starts with this, so ``check`` (and a rerun) can remove them all.
PREFIX = "oops-"
#: The layer of Pillow built for the wrong Python (deleted by the fix, and by teardown if a run stops halfway).
WRONG_LAYER_NAME = layer.WRONG_PYTHON_LAYER_NAME
#: Lambda's settings for a function created without them (CreateFunction's defaults).
LAMBDA_DEFAULT_MEMORY_MB = 128
LAMBDA_DEFAULT_TIMEOUT_S = 3
#: A photo as phones take them today: 48 megapixels.
LARGE_PHOTO_SIZE = (8000, 6000)
DATA = Path(__file__).resolve().parent.parent / "notebooks" / "data"
#: How long to wait for what AWS shows (a log line, a refusal), by target.
WAIT_S = {"local": 60.0, "aws": 300.0}


# --------------------------------------------------------------------------------------------- what a learner sees


@dataclass
class Failure:
    """One mistake made: what was done, where AWS shows it, the words it shows, and what the fix must put back."""

    key: str  # a section of 09_when_it_goes_wrong (diagnose.SECTIONS)
    did: str
    where: str
    shown: str
    facts: list[dict[str, Any]] = field(default_factory=list)
    images: list[tuple[str, bytes]] = field(default_factory=list)
    test_key: str | None = None  # the source object check() uploads again
    undo: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def title(self) -> str:
        return f"{list(SECTIONS).index(self.key) + 1} · {SECTIONS[self.key]}"

    def _repr_html_(self) -> str:
        parts = [f"<p><b>What you did:</b> {html.escape(self.did)}</p>",
                 f"<p><b>What you see</b> ({html.escape(self.where)}):</p>",
                 f"<pre style='white-space:pre-wrap;background:#fdecea;padding:0.6em'>{html.escape(self.shown)}</pre>"]
        if self.facts:
            parts.append(show.Table(self.facts)._repr_html_())
        if self.images:
            parts.append(show.Images(self.images)._repr_html_())
        return "".join(parts)

    def __repr__(self) -> str:
        out = [f"What you did: {self.did}", f"What you see ({self.where}):", self.shown]
        if self.facts:
            out.append(repr(show.Table(self.facts)))
        if self.images:
            out.append(repr(show.Images(self.images)))
        return "\n".join(out)


# --------------------------------------------------------------------------------------------- helpers


def _zip_source(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("lambda_function.py", (1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        archive.writestr(info, text)
    return buffer.getvalue()


def _function_state(settings: Settings) -> dict[str, Any]:
    """What ``fix`` must put back: the function's role, layers, memory, timeout, environment, log format."""
    config = aws.client(settings, "lambda").get_function_configuration(FunctionName=settings.function_name)
    return {
        "role": config["Role"], "layers": [layer["Arn"] for layer in config.get("Layers", [])],
        "memory_mb": config["MemorySize"], "timeout_s": config["Timeout"],
        "environment": config.get("Environment", {}).get("Variables", {}),
        "logging": config.get("LoggingConfig") or {"LogFormat": "Text"},
    }


def _restore_function(settings: Settings, state: dict[str, Any]) -> dict[str, Any]:
    """The walkthrough's function again, with the configuration it had before the mistake."""
    logging_config = state["logging"]
    layer_arn = state["layers"][0] if state["layers"] else sequence.pillow_layer_arn(settings)
    return lambda_fn.deploy_function(
        settings, state["role"], layer_arn, state["memory_mb"], state["timeout_s"],
        log_format=logging_config.get("LogFormat", "Text"), log_level=logging_config.get("ApplicationLogLevel", "INFO"),
        **state["environment"],
    )


def _update(settings: Settings, code: str | None = None, **configuration: Any) -> None:
    """Change the function's configuration and/or code, as the console's Save and Deploy do; wait until done."""
    lam = aws.client(settings, "lambda")
    waiter = lam.get_waiter("function_updated_v2")
    if configuration:
        lam.update_function_configuration(FunctionName=settings.function_name, **configuration)
        waiter.wait(FunctionName=settings.function_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    if code is not None:
        lam.update_function_code(FunctionName=settings.function_name, ZipFile=_zip_source(code))
        waiter.wait(FunctionName=settings.function_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})


def _deploy_learner_code(settings: Settings, slip: str | None, **configuration: Any) -> dict[str, Any]:
    """Replace the function's code with the tutorial's handler (one slip in it), created the console's way (Text logs)."""
    before = _function_state(settings)
    _update(settings, LoggingConfig={"LogFormat": "Text"}, **configuration)
    _update(settings, code=learner_code.source(slip))
    return before


def _wait_s(settings: Settings) -> float:
    return WAIT_S["local" if aws.on_emulator(settings) else "aws"]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _log_since(settings: Settings, since_ms: int) -> list[str]:
    """The function's log lines since a moment, oldest first (CloudWatch Logs, paginated)."""
    logs = aws.client(settings, "logs")
    lines: list[tuple[int, str]] = []
    kwargs: dict[str, Any] = {"logGroupName": f"/aws/lambda/{settings.function_name}", "startTime": since_ms}
    try:
        while True:
            page = logs.filter_log_events(**kwargs)
            lines += [(e["timestamp"], e["message"].rstrip("\n")) for e in page.get("events", [])]
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [message for _, message in sorted(lines, key=lambda pair: pair[0])]


def _wait_for(what: str, check: Callable[[], Any], settings: Settings, interval_s: float = 0.2) -> Any:
    """Poll ``check`` until it returns something; a clear error naming ``what`` after the target's wait."""
    timeout = _wait_s(settings)
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise WalkthroughError(f"Waited {timeout:.0f} s for {what}; it did not come. Look at the function's log "
                                   f"(lambda_fn.recent_log_lines) and run the section again.")
        time.sleep(interval_s if aws.on_emulator(settings) else max(interval_s, 2.0))


def _log_line(settings: Settings, since_ms: int, *needles: str) -> str:
    """The first log line since ``since_ms`` that holds every needle (the whole event, as CloudWatch shows it)."""
    def found() -> str | None:
        return next((line for line in _log_since(settings, since_ms) if all(n in line for n in needles)), None)
    return _wait_for(f"a log line with {' and '.join(map(repr, needles))}", found, settings)


def _settle(settings: Settings) -> None:
    """On the emulator: until every queued invocation (retries of a failed event too) has run."""
    endpoint = aws.emulator_endpoint(settings)
    port = urlsplit(endpoint).port if endpoint else None
    if port:
        lifecycle.control(port, "_walkthrough/idle?timeout=60", timeout=65)


def _delete_test_objects(settings: Settings, keys: list[str]) -> None:
    """Remove what the sections uploaded and what was made of it: every object named with ``PREFIX``, and the items."""
    s3, dynamodb = aws.client(settings, "s3"), aws.client(settings, "dynamodb")
    for bucket in (settings.raw_bucket, settings.processed_bucket):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                if PREFIX in obj["Key"].rpartition("/")[2]:
                    s3.delete_object(Bucket=bucket, Key=obj["Key"])
    for key in keys:
        dynamodb.delete_item(TableName=settings.table_name, Key={"filename": {"S": key}})


def _written_into_the_trigger(settings: Settings, key: str) -> list[str]:
    """The objects the looping handler made from ``key`` in the raw bucket (``resized-…-key``)."""
    s3 = aws.client(settings, "s3")
    return [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.raw_bucket, Prefix="resized-")
            for o in page.get("Contents", []) if o["Key"].endswith(key)]


def _large_photo() -> bytes:
    """``photo.jpg`` at 48 megapixels (8000x6000), as a phone takes them: a few MB of JPEG."""
    from PIL import Image

    with Image.open(DATA / "photo.jpg") as image:
        big = image.convert("RGB").resize(LARGE_PHOTO_SIZE, Image.Resampling.BILINEAR)
    out = io.BytesIO()
    big.save(out, "JPEG", quality=80)
    return out.getvalue()


def _put(settings: Settings, key: str, body: bytes, content_type: str = "image/jpeg") -> int:
    """Upload to the raw bucket; returns the moment just before (ms), for reading the log from there.

    On AWS a little earlier: the log's times are AWS's clock, which may be a second or two off this one.
    """
    since = _now_ms() - (0 if aws.on_emulator(settings) else 2000)
    aws.client(settings, "s3").put_object(Bucket=settings.raw_bucket, Key=key, Body=body, ContentType=content_type)
    return since


def _console_test(settings: Settings) -> dict[str, Any]:
    """The Lambda console's Test with the S3 Put template on ``photo.jpg`` (what notebook 04 does)."""
    return lambda_fn.invoke(settings, lambda_fn.console_test_event(settings.raw_bucket, pipeline.SAMPLE_PHOTO.name, settings.region))


def _response_as_the_console_shows_it(answer: dict[str, Any]) -> str:
    return json.dumps(answer["result"], indent=2, ensure_ascii=False)


# --------------------------------------------------------------------------------------------- 1, 2: the Pillow layer


def cause_no_layer(settings: Settings) -> Failure:
    """Deploy the function without its Pillow layer (the document's step 4 without "Add a layer"), then Test it."""
    before = _function_state(settings)
    _update(settings, Layers=[])
    answer = _console_test(settings)
    return Failure("no-layer", f"deployed {settings.function_name} without a layer and pressed Test",
                   "Lambda console, Test: Execution result", _response_as_the_console_shows_it(answer),
                   [{"Layers": "none", "FunctionError": answer["function_error"]}], undo={"function": before})


def cause_layer_for_another_python(settings: Settings) -> Failure:
    """Give the function a Pillow layer built for another Python than its runtime's, then Test it."""
    runtime = settings.runtime.removeprefix("python")
    other = "3.11" if runtime != "3.11" else "3.12"
    try:
        content = packaging.pillow_layer_zip_for(other, lambda_fn.ARCHITECTURE)
    except RuntimeError as exc:
        raise WalkthroughError(f"Could not get Pillow built for Python {other} ({exc}): this section needs it once from "
                               "PyPI, or from a workshop bundle (make run BUNDLE=...).") from None
    before = _function_state(settings)
    lam = aws.client(settings, "lambda")
    published = lam.publish_layer_version(LayerName=WRONG_LAYER_NAME, Content={"ZipFile": content},
                                          CompatibleRuntimes=[f"python{other}"],
                                          Description=f"Pillow built with pip on Python {other} (the wrong one)")
    _update(settings, Layers=[published["LayerVersionArn"]])
    answer = _console_test(settings)
    return Failure("layer-python", f"built the Pillow layer with Python {other} and gave it to a {settings.runtime} function",
                   "Lambda console, Test: Execution result", _response_as_the_console_shows_it(answer),
                   [{"runtime": settings.runtime, "layer built for": f"python{other}", "FunctionError": answer["function_error"]}],
                   undo={"function": before, "layer": (WRONG_LAYER_NAME, published["Version"])})


# --------------------------------------------------------------------------------------------- 3, 4: the execution environment


def cause_lambda_defaults(settings: Settings) -> Failure:
    """The tutorial's handler on Lambda's defaults (128 MB, 3 s), and a 48-megapixel photo."""
    before = _deploy_learner_code(settings, None, MemorySize=LAMBDA_DEFAULT_MEMORY_MB, Timeout=LAMBDA_DEFAULT_TIMEOUT_S)
    key = f"{PREFIX}large-photo.jpg"
    body = _large_photo()
    since = _put(settings, key, body)
    line = _log_line(settings, since, "REPORT RequestId:", "Status: error")
    error = next((l for l in _log_since(settings, since) if "Runtime exited" in l or "Task timed out" in l), "")
    return Failure("defaults", f"created the function with Lambda's defaults ({LAMBDA_DEFAULT_MEMORY_MB} MB, "
                   f"{LAMBDA_DEFAULT_TIMEOUT_S} s) and uploaded a {LARGE_PHOTO_SIZE[0] * LARGE_PHOTO_SIZE[1] // 10**6}-megapixel photo",
                   "CloudWatch Logs: /aws/lambda/" + settings.function_name, "\n".join(filter(None, [error, line])),
                   [{"uploaded": key, "bytes": len(body), "pixels": f"{LARGE_PHOTO_SIZE[0]}x{LARGE_PHOTO_SIZE[1]}",
                     "decoded (RGB)": f"{LARGE_PHOTO_SIZE[0] * LARGE_PHOTO_SIZE[1] * 3 // 2**20} MiB"}],
                   test_key=key, undo={"function": before, "body": body})


def cause_writing_next_to_the_code(settings: Settings) -> Failure:
    """The tutorial's handler saving the resized image to a relative path, that is into /var/task."""
    before = _deploy_learner_code(settings, "writes next to the code")
    key = f"{PREFIX}next-to-the-code.jpg"
    since = _put(settings, key, pipeline.SAMPLE_PHOTO.read_bytes())
    line = _log_line(settings, since, "[ERROR]", "Read-only file system")
    return Failure("read-only", "saved the resized image to a relative path (next to lambda_function.py)",
                   "CloudWatch Logs: /aws/lambda/" + settings.function_name, line.splitlines()[0],
                   [{"the change": learner_code.SLIPS["writes next to the code"][1].strip(), "working directory": "/var/task"}],
                   test_key=key, undo={"function": before})


# --------------------------------------------------------------------------------------------- 5, 6: permissions


def _current_policy_choice(settings: Settings) -> str:
    attached = aws.client(settings, "iam").list_attached_role_policies(RoleName=settings.role_name)["AttachedPolicies"]
    return "managed" if any(p["PolicyArn"] in iam.DOCUMENT_MANAGED_POLICIES for p in attached) else "least-privilege"


def cause_role_without_put_item(settings: Settings) -> Failure:
    """The role's policy without ``dynamodb:PutItem`` (easy to miss when writing it by hand), then an upload."""
    policy_choice = _current_policy_choice(settings)
    client = aws.client(settings, "iam")
    document = iam.least_privilege_policy(settings, aws.account(settings))
    for statement in document["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != "dynamodb:PutItem"]
    for arn in iam.DOCUMENT_MANAGED_POLICIES:
        if policy_choice == "managed":
            client.detach_role_policy(RoleName=settings.role_name, PolicyArn=arn)
    client.put_role_policy(RoleName=settings.role_name, PolicyName=iam.INLINE_POLICY_NAME, PolicyDocument=json.dumps(document))
    key = f"{PREFIX}access-denied.jpg"

    def refused() -> str | None:  # on AWS a policy change takes seconds to apply: upload again until it has
        since = _put(settings, key, pipeline.SAMPLE_PHOTO.read_bytes())
        deadline = time.monotonic() + (20 if aws.on_emulator(settings) else 30)
        while time.monotonic() < deadline:
            lines = _log_since(settings, since)
            line = next((l for l in lines if "is not authorized to perform: dynamodb:PutItem" in l and "errorType" in l), None)
            line = line or next((l for l in lines if "is not authorized to perform: dynamodb:PutItem" in l), None)
            if line:
                return line
            time.sleep(0.2 if aws.on_emulator(settings) else 2.0)
        return None

    line = _wait_for("the AccessDenied answer to dynamodb:PutItem", refused, settings)
    try:
        record = json.loads(line)
        shown = f"[ERROR] {record.get('errorType')}: {record.get('errorMessage')}" if "errorType" in record else record.get("message", line)
    except ValueError:
        shown = line
    return Failure("access-denied", "wrote the role's policy without dynamodb:PutItem (GetItem only)",
                   "CloudWatch Logs: /aws/lambda/" + settings.function_name, shown,
                   [{"role": settings.role_name, "allowed on the table": "dynamodb:GetItem", "missing": "dynamodb:PutItem"}],
                   test_key=key, undo={"policy": policy_choice})


def cause_notification_before_permission(settings: Settings) -> Failure:
    """Configure the raw bucket's notification before S3 may invoke the function (step 5 in the wrong order)."""
    lam, s3 = aws.client(settings, "lambda"), aws.client(settings, "s3")
    try:
        lam.remove_permission(FunctionName=settings.function_name, StatementId=trigger.STATEMENT_ID)
    except lam.exceptions.ResourceNotFoundException:
        pass
    s3.put_bucket_notification_configuration(Bucket=settings.raw_bucket, NotificationConfiguration={})
    function_arn = lam.get_function(FunctionName=settings.function_name)["Configuration"]["FunctionArn"]
    wanted = {"LambdaFunctionConfigurations": [{"Id": trigger.NOTIFICATION_ID, "LambdaFunctionArn": function_arn, "Events": trigger.EVENTS}]}

    def refused() -> str | None:  # on AWS a removed permission takes a moment to be seen by S3
        try:
            s3.put_bucket_notification_configuration(Bucket=settings.raw_bucket, NotificationConfiguration=wanted)
        except ClientError as exc:
            return str(exc)
        s3.put_bucket_notification_configuration(Bucket=settings.raw_bucket, NotificationConfiguration={})
        return None

    shown = _wait_for("S3 to refuse the notification", refused, settings)
    return Failure("permission", "put the raw bucket's event notification before the function's permission for S3",
                   "AWS CLI: aws s3api put-bucket-notification-configuration", shown,
                   [{"function policy": "no statement for s3.amazonaws.com", "notification": "refused, none configured"}],
                   test_key=f"{PREFIX}trigger.jpg")


# --------------------------------------------------------------------------------------------- 7, 8: the handler's code


def cause_keys_not_decoded(settings: Settings) -> Failure:
    """The tutorial's handler without ``unquote_plus``, and a file name with a space and a ``+``."""
    before = _deploy_learner_code(settings, "keys not decoded")
    key = f"{PREFIX}my photo+1.jpg"
    since = _put(settings, key, pipeline.SAMPLE_PHOTO.read_bytes())
    line = _log_line(settings, since, "[ERROR]", "HeadObject")
    return Failure("keys", f"used the event's key as it came, and uploaded {key!r}",
                   "CloudWatch Logs: /aws/lambda/" + settings.function_name, line.splitlines()[0],
                   [{"uploaded as": key, "the event's key (S3 encodes it)": quote_plus(key, safe="/"),
                     "what the code asked S3 for": quote_plus(key, safe="/")}],
                   test_key=key, undo={"function": before})


def cause_writing_into_the_trigger(settings: Settings) -> Failure:
    """The tutorial's handler writing its output back into the bucket that triggers it, with the document's role.

    The walkthrough's least-privilege role would refuse the write (``s3:PutObject``
    on the raw bucket is not in it): the loop needs the document's
    ``AmazonS3FullAccess``, which is what people who follow it have.
    """
    policy_choice = _current_policy_choice(settings)
    iam.create_role(settings, "managed")
    before = _deploy_learner_code(settings, "writes into its trigger")
    key = f"{PREFIX}loop.jpg"
    since = _put(settings, key, pipeline.SAMPLE_PHOTO.read_bytes())
    if aws.on_emulator(settings):
        _settle(settings)  # the emulator runs the whole chain at once
    else:  # on AWS: until no new object appears for half a minute
        seen: list[list[str]] = [[]]

        def stopped() -> bool:
            now = _written_into_the_trigger(settings, key)
            done = bool(now) and now == seen[0]
            seen[0] = now
            return done
        _wait_for("the loop to stop", stopped, settings, interval_s=30.0)
    made = sorted(_written_into_the_trigger(settings, key), key=len)
    starts = [line for line in _log_since(settings, since) if line.startswith("START RequestId:")]
    dropped = _wait_for("the RecursiveInvocationsDropped metric", lambda: _recursion_metric(settings, since), settings, interval_s=0.5)
    shown = "\n".join([
        f"s3://{settings.raw_bucket}/ holds {len(made)} new objects, each made from the one before:",
        *[f"  {k}" for k in made[:3]], "  …", f"  {made[-1]}" if made else "",
        f"CloudWatch, metric AWS/Lambda RecursiveInvocationsDropped, FunctionName={settings.function_name}: Sum {dropped:g}",
    ])
    return Failure("loop", f"wrote the resized image back into {settings.raw_bucket}, which triggers the function "
                   "(with the document's AmazonS3FullAccess on the role)",
                   "the S3 console (the bucket's objects) and CloudWatch metrics", shown,
                   [{"invocations": len(starts), "objects written into the trigger bucket": len(made),
                     "invocations Lambda dropped": int(dropped)}],
                   test_key=key, undo={"function": before, "policy": policy_choice})


def _recursion_metric(settings: Settings, since_ms: int) -> float | None:
    from datetime import datetime, timezone

    points = aws.client(settings, "cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda", MetricName="RecursiveInvocationsDropped",
        Dimensions=[{"Name": "FunctionName", "Value": settings.function_name}],
        StartTime=datetime.fromtimestamp(since_ms / 1000 - 60, timezone.utc), EndTime=datetime.now(timezone.utc),
        Period=60, Statistics=["Sum"],
    ).get("Datapoints", [])
    total = sum(p["Sum"] for p in points)
    return total or None


# --------------------------------------------------------------------------------------------- 9, 10, 11: serving


def cause_public_access(settings: Settings) -> Failure:
    """Make a processed image public the old way: an ACL on the object, then a bucket policy for everyone."""
    s3 = aws.client(settings, "s3")
    policy_before = s3.get_bucket_policy(Bucket=settings.processed_bucket)["Policy"]
    key = f"{PREFIX}public.jpg"
    seen = []
    try:
        s3.put_object(Bucket=settings.processed_bucket, Key=key, Body=pipeline.SAMPLE_PHOTO.read_bytes(),
                      ContentType="image/jpeg", ACL="public-read")
        seen.append("(the upload with ACL public-read was accepted)")
    except ClientError as exc:
        seen.append(str(exc))
    public = {"Version": "2012-10-17", "Statement": [{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
                                                     "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{settings.processed_bucket}/*"}]}
    try:
        s3.put_bucket_policy(Bucket=settings.processed_bucket, Policy=json.dumps(public))
        seen.append("(the public bucket policy was accepted)")
    except ClientError as exc:
        seen.append(str(exc))
    return Failure("public", f"uploaded with --acl public-read, then put a bucket policy with \"Principal\": \"*\" on {settings.processed_bucket}",
                   "AWS CLI: aws s3 cp --acl public-read, aws s3api put-bucket-policy", "\n".join(seen),
                   [{"Object Ownership": "BucketOwnerEnforced (ACLs disabled)", "Block Public Access": "all four on"}],
                   undo={"policy": policy_before, "key": key})


def _fetch_row(settings: Settings, label: str, key: str) -> dict[str, Any]:
    served = cdn.fetch(settings, key)
    headers = served["headers"]
    in_s3 = aws.client(settings, "s3").head_object(Bucket=settings.processed_bucket, Key=key)["ETag"]
    age = f" (Age {headers['Age']} s)" if "Age" in headers else ""
    return {"request": label, "status": served["status"], "X-Cache": headers.get("X-Cache", "") + age,
            "ETag served": headers.get("ETag", ""), "same as in S3": headers.get("ETag") == in_s3, "_body": served["body"]}


def cause_replaced_image_served_from_cache(settings: Settings) -> Failure:
    """Replace a source image whose processed version CloudFront already served, and look at it again."""
    key = f"{PREFIX}cached.jpg"
    first = _process_bytes(settings, key, pipeline.SAMPLE_PHOTO.read_bytes())
    processed_key = first["processed_key"]
    rows = [_fetch_row(settings, "first view", processed_key), _fetch_row(settings, "second view", processed_key)]
    _process_bytes(settings, key, (DATA / "batch" / "rocket.jpg").read_bytes())  # the same name, another photo
    rows.append(_fetch_row(settings, "after replacing the source", processed_key))
    now_in_s3 = pipeline.read_object(settings, settings.processed_bucket, processed_key)
    images = [("served by CloudFront", rows[-1]["_body"]), ("in S3 now", now_in_s3)]
    return Failure("cache", f"replaced {key} with another photo and opened {processed_key} again",
                   "a browser: the old image; the response headers",
                   f"X-Cache: {rows[-1]['X-Cache']}\nETag: {rows[-1]['ETag served']} (S3 now has another)",
                   [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows], images,
                   test_key=key, undo={"processed_key": processed_key})


def cause_new_watermark(settings: Settings, watermark: str = "© 2026 your name") -> Failure:
    """Change the function's watermark: the next uploads get it, the images already made keep the old one."""
    before = _function_state(settings)
    environment = {**before["environment"], "WATERMARK_TEXT": watermark}
    _update(settings, Environment={"Variables": environment})
    item = pipeline.metadata_item(settings, pipeline.SAMPLE_PHOTO.name)
    if not item or not item.get("processed_key"):
        raise WalkthroughError("photo.jpg has not been processed yet: run notebook 07 (or this notebook from the top).")
    served = cdn.fetch(settings, item["processed_key"])
    return Failure("reprocess", f"set WATERMARK_TEXT to {watermark!r} on the function",
                   f"a browser: {item['processed_key']} through CloudFront",
                   f"{item['processed_key']} still shows the old watermark: the function only runs on new uploads",
                   [{"WATERMARK_TEXT was": before["environment"].get("WATERMARK_TEXT", "processed by walkthrough (the default)"),
                     "is now": watermark, "images made before": "unchanged in S3 and in CloudFront's cache"}],
                   [("served now", served["body"])], undo={"function": before, "watermark": watermark})


# --------------------------------------------------------------------------------------------- fix, check


class Report(show.Table):
    """A fix's or a check's rows, with the images it looked at (if any) under them."""

    def __init__(self, rows: list[dict[str, Any]], title: str, images: list[tuple[str, bytes]] | None = None) -> None:
        super().__init__(rows, title)
        self.images = show.Images(images) if images else None

    def _repr_html_(self) -> str:
        return super()._repr_html_() + (self.images._repr_html_() if self.images else "")

    def __repr__(self) -> str:
        return super().__repr__() + (f"\n{self.images!r}" if self.images else "")


def fix(settings: Settings, failure: Failure) -> Report:
    """Do it the right way, and put back what the mistake changed; what the fix did."""
    done: list[dict[str, Any]] = []
    key, undo = failure.key, failure.undo
    if "policy" in undo and key in ("access-denied", "loop"):
        result = iam.create_role(settings, undo["policy"])
        done.append({"fix": f"the role's policy as step 3 writes it ({undo['policy']})", "result": ", ".join(result["changes"]) or result["status"]})
    elif key == "permission":
        done.append({"fix": "1. the function's permission for s3.amazonaws.com", "result": trigger.allow_s3_to_invoke(settings)["status"]})
        done.append({"fix": "2. then the bucket's notification", "result": trigger.configure_notification(settings)["status"]})
    elif key == "public":
        s3 = aws.client(settings, "s3")
        if s3.get_bucket_policy(Bucket=settings.processed_bucket)["Policy"] != undo["policy"]:
            s3.put_bucket_policy(Bucket=settings.processed_bucket, Policy=undo["policy"])
        _delete_test_objects(settings, [])
        distribution = cdn.find_distribution_summary(settings)
        done.append({"fix": "nothing to open: the bucket stays private, CloudFront serves it",
                     "result": cdn.url_for(settings, distribution, "processed-photo.jpg")})
    elif key == "cache":
        invalidation = cdn.invalidate(settings, [undo["processed_key"]])
        done.append({"fix": f"invalidate {', '.join(invalidation['paths'])}", "result": invalidation["status"]})
    elif key == "reprocess":
        result = reprocess.reprocess(settings, prefix=pipeline.SAMPLE_PHOTO.name)
        done += [{"fix": f"reprocess {row['key']}", "result": f"{row['outcome']}, {'changed' if row['changed'] else 'unchanged'}"}
                 for row in result.rows]
        done.append({"fix": "invalidate what changed", "result": result.summary()["invalidated"]})
    if "function" in undo and key != "reprocess":
        state = undo["function"]
        deployed = _restore_function(settings, state)
        layer_name = ":".join(state["layers"][0].rsplit(":", 2)[-2:]) if state["layers"] else "-"
        done.append({"fix": "the walkthrough's function, as it was", "result": deployed["status"]})
        done.append({"fix": "its configuration", "result": f"{state['memory_mb']} MB, {state['timeout_s']} s, layer {layer_name}, "
                     f"{state['logging'].get('LogFormat')} logs"})
    if "layer" in undo:
        name, version = undo["layer"]
        aws.client(settings, "lambda").delete_layer_version(LayerName=name, VersionNumber=version)
        done.append({"fix": f"delete the layer {name}:{version}", "result": "deleted"})
    return Report(done, "What the fix did")


def check(settings: Settings, failure: Failure) -> Report:
    """The pipeline working again where the mistake broke it; then the section's objects are removed."""
    rows: list[dict[str, Any]] = []
    images: list[tuple[str, bytes]] = []
    key = failure.key
    if key in ("no-layer", "layer-python"):
        answer = _console_test(settings)
        result = answer["result"] or {}
        rows.append({"check": "Test (S3 Put template, photo.jpg)",
                     "result": json.dumps(result) if answer["function_error"] else f"{result.get('processed')} of {result.get('records')} processed"})
    elif key == "public":
        served, direct = cdn.fetch(settings, "processed-photo.jpg"), cdn.fetch_directly(settings, "processed-photo.jpg")
        rows += [{"check": "processed-photo.jpg through CloudFront", "result": f"{served['status']} {served['headers'].get('Content-Type', '')}"},
                 {"check": "the same straight from S3, anonymously", "result": f"{direct['status']} {direct['error']}"}]
    elif key == "cache":
        row = _fetch_row(settings, "after the invalidation", failure.undo["processed_key"])
        rows.append({"check": row["request"], "result": f"{row['status']}, {row['X-Cache']}, the ETag in S3: "
                     f"{'yes' if row['same as in S3'] else 'no'}"})
        images.append(("served by CloudFront now", row["_body"]))
        cdn.invalidate(settings, [failure.undo["processed_key"]], progress=False)  # a later run finds nothing cached
    elif key == "reprocess":
        item = pipeline.metadata_item(settings, pipeline.SAMPLE_PHOTO.name) or {}
        served = cdn.fetch(settings, item.get("processed_key", "processed-photo.jpg"))
        rows.append({"check": f"{item.get('processed_key')} through CloudFront", "result": served["headers"].get("X-Cache", "")})
        images.append((f"served now, watermark {failure.undo['watermark']!r}", served["body"]))
    if failure.test_key:
        written_before = len(_written_into_the_trigger(settings, failure.test_key)) if key == "loop" else 0
        item = _process_bytes(settings, failure.test_key, failure.undo.get("body") or pipeline.SAMPLE_PHOTO.read_bytes())
        rows.append({"check": f"upload {failure.test_key!r}", "result": f"{item['status']}: {item.get('processed_key', '')} "
                     f"({item.get('width')}x{item.get('height')})" if item["status"] == "processed" else f"{item['status']}: {item.get('error', '')}"})
        _settle(settings)
        if key == "loop":
            new = len(_written_into_the_trigger(settings, failure.test_key)) - written_before
            rows.append({"check": f"objects written into {settings.raw_bucket} since", "result": new or "none"})
        _delete_test_objects(settings, [failure.test_key])
    return Report(rows, "Working again", images)


def _process_bytes(settings: Settings, key: str, body: bytes) -> dict[str, Any]:
    """Upload bytes under ``key`` and wait for the function's result (``pipeline.process`` takes files)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="walkthrough-") as folder:
        path = Path(folder) / Path(key).name
        path.write_bytes(body)
        uploaded = pipeline.upload(settings, path, key)
        return pipeline.wait_for_result(settings, uploaded, _wait_s(settings), progress=False)


def put_back_the_watermark(settings: Settings, failure: Failure) -> Report:
    """The function's watermark as it was, and the image reprocessed with it: the pipeline as the section found it."""
    _restore_function(settings, failure.undo["function"])
    result = reprocess.reprocess(settings, prefix=pipeline.SAMPLE_PHOTO.name, progress=False)
    watermark = failure.undo["function"]["environment"].get("WATERMARK_TEXT", "processed by walkthrough (the default)")
    return Report([{"put back": f"WATERMARK_TEXT: {watermark}", "reprocessed": ", ".join(r["key"] for r in result.rows),
                    "invalidated": result.summary()["invalidated"]}], "As the section found it")


def leftovers(settings: Settings) -> list[str]:
    """What an interrupted run of the sections left behind: their objects, the wrong layer (empty when all is as found)."""
    s3 = aws.client(settings, "s3")
    found = [f"s3://{bucket}/{obj['Key']}" for bucket in (settings.raw_bucket, settings.processed_bucket)
             for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
             for obj in page.get("Contents", []) if PREFIX in obj["Key"].rpartition("/")[2]]
    lam = aws.client(settings, "lambda")
    found += [f"layer {WRONG_LAYER_NAME}:{v['Version']}" for v in lam.list_layer_versions(LayerName=WRONG_LAYER_NAME).get("LayerVersions", [])]
    return found


def snapshot(settings: Settings) -> dict[str, Any]:
    """What the sections touch, as it is now: to show at the end that every section put it back."""
    s3 = aws.client(settings, "s3")
    code = aws.client(settings, "lambda").get_function_configuration(FunctionName=settings.function_name)["CodeSha256"]
    return {
        "the function (code, layer, memory, timeout, environment, logs)": {**_function_state(settings), "code": code},
        "the role's policies": iam.describe_role(settings)["policies"],
        "S3's permission to invoke the function": [s.get("Sid") for s in trigger.describe_permission(settings)],
        "the raw bucket's notification": [(c.get("Id"), c.get("LambdaFunctionArn")) for c in trigger.describe_notification(settings)],
        "the processed bucket's policy": s3.get_bucket_policy(Bucket=settings.processed_bucket)["Policy"],
        "the source objects": reprocess.source_keys(settings),
        "processed-photo.jpg": s3.head_object(Bucket=settings.processed_bucket, Key="processed-photo.jpg")["ETag"],
    }


def unchanged_since(settings: Settings, before: dict[str, Any]) -> Report:
    """Each part the sections touched, compared with ``before``; and anything they left behind."""
    now = snapshot(settings)
    rows = [{"part of the pipeline": name, "as at the start": now.get(name) == value} for name, value in before.items()]
    rows.append({"part of the pipeline": "objects and layers the sections made", "as at the start": not leftovers(settings)})
    return Report(rows, "The pipeline, after every section")
