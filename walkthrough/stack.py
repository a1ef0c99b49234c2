"""The pipeline as one CloudFormation stack: deploy it, read it, delete it (``walkthrough deploy`` / ``down``).

``deploy`` does what ``aws cloudformation package`` and ``deploy`` do together:
it uploads the function's and the layer's zips to the artifacts bucket
(``walkthrough-artifacts``, on AWS ``walkthrough-artifacts-<account>-<region>``,
private and tagged like everything else), then creates a change set, executes
it and waits until CloudFormation is done, with a progress bar (minutes on AWS:
CloudFront deploys the distribution), then puts the ``index.html`` notebook 06
puts. A template that did not change is "unchanged"; a stack that failed is
rolled back by CloudFormation, and the error names the resource and the reason.

``delete`` empties the stack's buckets first (CloudFormation deletes only empty
ones), deletes the stack, waits (CloudFormation disables the distribution and
waits for that before deleting it: minutes on AWS), and removes the stack's
artifacts. ``delete_all`` does it for every stack of the run, found by its
tags: what ``teardown`` (notebook 99, ``walkthrough down``) starts with.

Creating goes through the same confirmation gate as the notebooks on AWS
(``safety``): ``CreateBucket`` and ``CreateChangeSet`` are creating calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterable

from botocore.exceptions import ClientError

from walkthrough import api, aws, buckets, cdn, inventory, plan, template
from walkthrough.config import PROJECT_TAG, RUN_TAG_KEY, Settings, unique_bucket_name
from walkthrough.errors import WalkthroughError
from walkthrough.progress import Progress

ARTIFACTS_BUCKET = "walkthrough-artifacts"
#: The role has a name (LambdaImageProcessingRole), which CloudFormation makes you acknowledge.
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
#: Seconds between polls of a stack at work (CloudFormation's own waiters poll every 30 s on AWS).
POLL_S = {"local": 0.2, "aws": 10.0}
#: CloudFront deploys a distribution in about 5-15 minutes, and takes as long to disable one before deleting it.
TIMEOUT_S = 60 * 60
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
_sleep = time.sleep  # tests replace it


def artifacts_bucket(settings: Settings) -> str:
    """Where the zips go: ``walkthrough-artifacts`` locally, ``walkthrough-artifacts-<account>-<region>`` on AWS."""
    return ARTIFACTS_BUCKET if settings.is_local else unique_bucket_name(ARTIFACTS_BUCKET, settings.account, settings.region)


@dataclass(frozen=True)
class Rendered:
    """A template made for these settings, and the zips it names."""

    names: template.Names
    template: dict[str, Any]
    text: str
    artifacts: tuple[template.Artifact, ...]
    pillow: template.PillowLayer

    @property
    def stack(self) -> str:
        return self.names.stack


def render(settings: Settings, prefix: str = "", pillow_layer: str | None = None, policy: str = "least-privilege",
           max_dimension: int | None = None, with_api: bool = True, locate: template.Locate | None = None) -> Rendered:
    """The template for these settings (and ``prefix``); its zips in the artifacts bucket unless ``locate`` says otherwise."""
    from walkthrough import lambda_fn

    names = template.names(settings, prefix)
    pillow = template.pillow_layer(settings, pillow_layer)
    located: list[template.Artifact] = []
    where = locate or template.in_bucket(artifacts_bucket(settings), names.stack)

    def remember(artifact: template.Artifact) -> Any:
        located.append(artifact)
        return where(artifact)

    body = template.build(names, remember, pillow, policy, max_dimension or lambda_fn.TUTORIAL_MAX_DIMENSION, with_api)
    return Rendered(names, body, template.to_yaml(body), tuple(located), pillow)


def artifact_rows(settings: Settings, rendered: Rendered) -> list[dict[str, Any]]:
    """Where each zip the template names goes, and its size."""
    bucket = artifacts_bucket(settings)
    return [{"artifact": a.name, "where": f"s3://{bucket}/{rendered.stack}/{a.file_name}", "MB": round(len(a.data) / 1e6, 2)}
            for a in rendered.artifacts]


# --------------------------------------------------------------------------- reading


def find(settings: Settings, stack_name: str) -> dict[str, Any] | None:
    """The stack's description, or None when there is none (a deleted stack is none)."""
    cloudformation = aws.client(settings, "cloudformation")
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in exc.response.get("Error", {}).get("Message", ""):
            return None
        raise
    return stacks[0] if stacks and stacks[0]["StackStatus"] != "DELETE_COMPLETE" else None


def outputs(settings: Settings, stack_name: str) -> dict[str, str]:
    found = find(settings, stack_name)
    if found is None:
        raise WalkthroughError(f"There is no stack {stack_name}: deploy it first (`python -m walkthrough deploy`).")
    return {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs") or []}


def resources(settings: Settings, stack_name: str) -> list[dict[str, str]]:
    """One row per resource of the stack: logical id, type, physical id, status."""
    cloudformation = aws.client(settings, "cloudformation")
    rows = []
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for item in page.get("StackResourceSummaries", []):
            rows.append({"resource": item["LogicalResourceId"], "type": item["ResourceType"],
                         "physical id": item.get("PhysicalResourceId", ""), "status": item["ResourceStatus"]})
    return rows


def events(settings: Settings, stack_name: str) -> list[dict[str, Any]]:
    """The stack's events, oldest first."""
    cloudformation = aws.client(settings, "cloudformation")
    found: list[dict[str, Any]] = []
    for page in cloudformation.get_paginator("describe_stack_events").paginate(StackName=stack_name):
        found += page.get("StackEvents", [])
    return list(reversed(found))


def failure(settings: Settings, stack_name: str, after: Any = None) -> str:
    """The first resource that failed (since ``after``), and why, in CloudFormation's words."""
    try:
        history = events(settings, stack_name)
    except ClientError:
        return "(its events are gone)"
    for event in history:
        if after is not None and event.get("Timestamp") and event["Timestamp"] < after:
            continue
        if event["ResourceStatus"].endswith("_FAILED") and event.get("LogicalResourceId") != stack_name:
            return f"{event['LogicalResourceId']} ({event['ResourceType']}): {event.get('ResourceStatusReason') or 'no reason given'}"
    stack_events = [e for e in history if e.get("LogicalResourceId") == stack_name and e.get("ResourceStatusReason")]
    return stack_events[-1]["ResourceStatusReason"] if stack_events else "no reason given"


def urls(settings: Settings, found: dict[str, str]) -> dict[str, str]:
    """Where to look: the distribution's address (the emulator's loopback one locally) and the API's."""
    rows = {}
    if found.get("DistributionId"):
        distribution = {"id": found["DistributionId"], "domain": found.get("DistributionDomainName", "")}
        rows["CloudFront"] = cdn.url_for(settings, distribution, "")
    if found.get("ApiId"):
        rows["API"] = api.invoke_url(settings, found["ApiId"])
    return rows


# --------------------------------------------------------------------------- deploying


def plan_rows(settings: Settings, rendered: Rendered) -> list[dict[str, Any]]:
    """What a deploy creates and costs: the notebooks' resources (``plan.py``), the stack and its artifacts."""
    rows = plan.resources(rendered.names.settings)
    size = sum(len(a.data) for a in rendered.artifacts) / 1e6
    rows.append({"step": "10", "service": "S3", "resource": f"bucket {artifacts_bucket(settings)} ({size:.1f} MB of zips)",
                 "cost": "free (local emulator)" if settings.is_local else "$0.023 per GB-month: well under a cent"})
    rows.append({"step": "10", "service": "CloudFormation", "resource": f"stack {rendered.stack}", "cost": "free"})
    return rows


def ensure_artifacts_bucket(settings: Settings) -> str:
    """The artifacts bucket, private and tagged like the pipeline's (created on the first deploy)."""
    name = artifacts_bucket(settings)
    buckets.ensure_bucket(settings, name)
    aws.client(settings, "s3").put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=buckets.BLOCK_ALL)
    buckets.tag_bucket(settings, name)
    return name


def upload_artifacts(settings: Settings, rendered: Rendered) -> list[dict[str, Any]]:
    """Put each zip the template names into the artifacts bucket, unless it is there (keys carry the content's hash)."""
    s3 = aws.client(settings, "s3")
    bucket = ensure_artifacts_bucket(settings)
    rows = []
    for artifact in rendered.artifacts:
        key = f"{rendered.stack}/{artifact.file_name}"
        try:
            s3.head_object(Bucket=bucket, Key=key)
            status = "exists"
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
            s3.put_object(Bucket=bucket, Key=key, Body=artifact.data, ContentType="application/zip",
                          Metadata={"sha256": artifact.sha256})
            status = "uploaded"
        rows.append({"artifact": f"s3://{bucket}/{key}", "bytes": len(artifact.data), "status": status})
    return rows


def conflicts(settings: Settings, rendered: Rendered, owned: Iterable[str] = ()) -> list[str]:
    """The stack's names that something else already uses (the notebooks' pipeline, most likely)."""
    named = rendered.names.settings
    owned = set(owned)
    s3, lam, dynamodb, iam = (aws.client(settings, n) for n in ("s3", "lambda", "dynamodb", "iam"))
    taken = []
    for bucket in (named.raw_bucket, named.processed_bucket):
        try:
            s3.head_bucket(Bucket=bucket)
            taken.append(f"bucket {bucket}")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("403", "AccessDenied"):
                taken.append(f"bucket {bucket} (another account's)")
    checks = ((f"function {named.function_name}", lambda: lam.get_function(FunctionName=named.function_name)),
              (f"table {named.table_name}", lambda: dynamodb.describe_table(TableName=named.table_name)),
              (f"role {named.role_name}", lambda: iam.get_role(RoleName=named.role_name)))
    for what, check in checks:
        try:
            check()
            taken.append(what)
        except ClientError:
            pass
    return [t for t in taken if t.split(" ")[1] not in owned]


def _wait_change_set(settings: Settings, change_set_id: str) -> dict[str, Any]:
    cloudformation = aws.client(settings, "cloudformation")
    poll = POLL_S["local" if aws.on_emulator(settings) else "aws"]
    deadline = time.monotonic() + 600
    while True:
        answer = cloudformation.describe_change_set(ChangeSetName=change_set_id)
        if answer["Status"] in ("CREATE_COMPLETE", "FAILED"):
            return answer
        if time.monotonic() > deadline:
            raise WalkthroughError(f"CloudFormation is still preparing the change set after 10 min: check it in the console ({change_set_id}).")
        _sleep(min(poll, 5.0))


def wait(settings: Settings, stack_name: str, verb: str, total: int, progress: bool = True,
         timeout_s: float = TIMEOUT_S) -> str:
    """Wait until the stack settles; its final status. The bar counts resources done and shows the time waited."""
    cloudformation = aws.client(settings, "cloudformation")
    poll = POLL_S["local" if aws.on_emulator(settings) else "aws"]
    started = time.monotonic()
    done: set[str] = set()
    status = "?"
    hint = " (CloudFront: usually 5-15 min)" if not settings.is_local else ""
    with Progress(total, f"{verb} {stack_name}{hint}", "resource", disable=not progress,
                  bar_format="{desc}: {n_fmt}/{total_fmt} resources, {elapsed}{postfix}") as bar:
        while True:
            found = find(settings, stack_name)
            status = found["StackStatus"] if found else "DELETE_COMPLETE"
            if found:
                for event in cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]:
                    if event["LogicalResourceId"] != stack_name and event["ResourceStatus"] in (
                            "CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE", "DELETE_SKIPPED"):
                        if (verb == "deleting") == event["ResourceStatus"].startswith("DELETE"):
                            done.add(event["LogicalResourceId"])
            bar.set(len(done))
            bar.status(status)
            if not status.endswith("_IN_PROGRESS"):
                if status in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "DELETE_COMPLETE"):
                    bar.succeed(f"{status} after {time.monotonic() - started:.1f} s")
                else:
                    bar.fail(status)
                return status
            if time.monotonic() - started > timeout_s:
                raise WalkthroughError(f"The stack {stack_name} is still {status} after {timeout_s / 60:.0f} min: "
                                       "check it in the CloudFormation console, then run this again.")
            _sleep(poll)


def deploy(settings: Settings, prefix: str = "", pillow_layer: str | None = None, policy: str = "least-privilege",
           max_dimension: int | None = None, with_api: bool = True, progress: bool = True,
           rendered: Rendered | None = None) -> dict[str, Any]:
    """Create or update the stack, wait until CloudFormation is done, put the index page; says what happened.

    ``rendered``: a template ``render`` made already (the other arguments are then its own).
    """
    started = time.monotonic()
    rendered = rendered or render(settings, prefix, pillow_layer, policy, max_dimension, with_api)
    cloudformation = aws.client(settings, "cloudformation")
    existing = find(settings, rendered.stack)
    if existing and existing["StackStatus"] in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "REVIEW_IN_PROGRESS"):
        # a stack whose creation failed can only be deleted (CloudFormation refuses to update it)
        delete(settings, rendered.stack, progress=False, keep_artifacts=True)
        existing = None
    if existing and (existing["StackStatus"].endswith("_IN_PROGRESS") or existing["StackStatus"].endswith("_FAILED")):
        raise WalkthroughError(f"The stack {rendered.stack} is {existing['StackStatus']}: wait for it, or remove it with "
                               "`python -m walkthrough down`, then deploy again.")
    owned = [r["physical id"] for r in resources(settings, rendered.stack)] if existing else []
    taken = conflicts(settings, rendered, owned)
    if taken:
        raise WalkthroughError(
            f"The stack would create {', '.join(taken)}, which already exist{'s' if len(taken) == 1 else ''} outside it (the "
            "notebooks' pipeline?): remove them with `python -m walkthrough down`, or deploy beside them with --prefix NAME.")
    uploads = upload_artifacts(settings, rendered)
    kind = "UPDATE" if existing else "CREATE"
    change_set = cloudformation.create_change_set(
        StackName=rendered.stack, ChangeSetName=f"walkthrough-{time.strftime('%Y%m%d-%H%M%S')}", ChangeSetType=kind,
        TemplateBody=rendered.text, Capabilities=CAPABILITIES, Tags=settings.tag_list(),
        Description="python -m walkthrough deploy",
    )
    answer = _wait_change_set(settings, change_set["Id"])
    if answer["Status"] == "FAILED":
        reason = answer.get("StatusReason") or "no reason given"
        cloudformation.delete_change_set(ChangeSetName=change_set["Id"])
        if any(text in reason for text in NO_CHANGES):
            return {"stack": rendered.stack, "status": "unchanged", "seconds": round(time.monotonic() - started, 1),
                    "artifacts": uploads, "outputs": outputs(settings, rendered.stack)}
        if kind == "CREATE":
            cloudformation.delete_stack(StackName=rendered.stack)  # the empty stack the change set made
        raise WalkthroughError(f"CloudFormation refused the template of {rendered.stack}: {reason}")
    executed_at = answer.get("CreationTime")
    cloudformation.execute_change_set(ChangeSetName=change_set["Id"])
    total = len(rendered.template["Resources"])
    status = wait(settings, rendered.stack, "creating" if kind == "CREATE" else "updating", total, progress)
    if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        raise WalkthroughError(f"The stack {rendered.stack} ended {status}: {failure(settings, rendered.stack, executed_at)}. "
                               "Fix the cause and deploy again (`python -m walkthrough down` removes what is left).")
    cdn.upload_index(rendered.names.settings)
    return {"stack": rendered.stack, "status": "created" if kind == "CREATE" else "updated",
            "seconds": round(time.monotonic() - started, 1), "resources": total, "artifacts": uploads,
            "outputs": outputs(settings, rendered.stack)}


# --------------------------------------------------------------------------- deleting


def delete(settings: Settings, stack_name: str, progress: bool = True, keep_artifacts: bool = False) -> str:
    """Empty the stack's buckets, delete it, wait until it is gone, remove its artifacts; says what happened."""
    found = find(settings, stack_name)
    if found is None:
        return "already gone"
    started = time.monotonic()
    cloudformation = aws.client(settings, "cloudformation")
    listed = resources(settings, stack_name)
    for row in listed:
        if row["type"] == "AWS::S3::Bucket" and row["physical id"]:
            try:
                buckets.empty_bucket(settings, row["physical id"])
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
                    raise
    cloudformation.delete_stack(StackName=stack_name)
    status = wait(settings, stack_name, "deleting", max(len(listed), 1), progress)
    if status != "DELETE_COMPLETE":
        raise WalkthroughError(f"The stack {stack_name} could not be deleted ({status}): {failure(settings, stack_name)}. "
                               "Fix the cause, then run `python -m walkthrough down` again.")
    if not keep_artifacts:
        _remove_artifacts(settings, stack_name)
    return f"deleted in {time.monotonic() - started:.1f} s"


def _remove_artifacts(settings: Settings, stack_name: str) -> None:
    """The stack's zips, and the artifacts bucket once nothing else is in it."""
    s3 = aws.client(settings, "s3")
    bucket = artifacts_bucket(settings)
    try:
        buckets.empty_bucket(settings, bucket, prefix=f"{stack_name}/")
        if not s3.list_objects_v2(Bucket=bucket, MaxKeys=1).get("KeyCount"):
            s3.delete_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("NoSuchBucket", "404"):
            raise


def walkthrough_stacks(settings: Settings) -> list[str]:
    """The stacks of this run: tagged ``project=walkthrough`` and ``walkthrough:run=<run name>`` (as ``deploy`` tags them)."""
    cloudformation = aws.client(settings, "cloudformation")
    names = []
    for page in cloudformation.get_paginator("describe_stacks").paginate():
        for found in page.get("Stacks", []):
            tags = {t["Key"]: t["Value"] for t in found.get("Tags") or []}
            if found["StackStatus"] != "DELETE_COMPLETE" and tags.get(PROJECT_TAG[0]) == PROJECT_TAG[1] \
                    and tags.get(RUN_TAG_KEY) == settings.run_name:
                names.append(found["StackName"])
    return names


def delete_all(settings: Settings, progress: bool = True) -> str | None:
    """Delete every stack of this run (``teardown`` starts with this); says what it did."""
    names = walkthrough_stacks(settings)
    if not names:
        return "nothing to delete"
    for name in names:
        delete(settings, name, progress)
    return f"deleted {', '.join(names)}"


def remaining(settings: Settings, rendered: Rendered) -> list[str]:
    """What still exists of a stack's resources and artifacts, found by their names (empty once it is deleted)."""
    named = rendered.names.settings
    left = [f"stack {rendered.stack}"] if find(settings, rendered.stack) else []
    left += inventory.named_parts_left(named, rendered.names.layer, rendered.names.api)
    s3, logs = aws.client(settings, "s3"), aws.client(settings, "logs")
    artifacts = artifacts_bucket(settings)
    if artifacts in {b["Name"] for b in s3.list_buckets().get("Buckets", [])} and \
            s3.list_objects_v2(Bucket=artifacts, Prefix=f"{rendered.stack}/").get("KeyCount"):
        left.append(f"artifacts s3://{artifacts}/{rendered.stack}/")
    if logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{named.function_name}")["logGroups"]:
        left.append(f"log group /aws/lambda/{named.function_name}")
    return left
