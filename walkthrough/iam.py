"""Step 3: LambdaImageProcessingRole, the identity the function runs as.

Trusted by Lambda only. By default it gets a least-privilege inline policy:
read the raw bucket, write the processed bucket, read and write the metadata
table, write the function's own logs, and nothing else. ``policy="managed"``
attaches the document's three AWS managed policies instead, exactly as the
document does (far broader than the function needs).
"""

from __future__ import annotations

import json
from typing import Any

from walkthrough import aws
from walkthrough.config import Settings
from walkthrough.errors import WalkthroughError

TRUST_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}

#: The document's policies, attached as it attaches them.
DOCUMENT_MANAGED_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonS3FullAccess",
    "arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess",
    "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess",
)
INLINE_POLICY_NAME = "ImageProcessingLeastPrivilege"
POLICY_CHOICES = ("least-privilege", "managed")
ROLE_DESCRIPTION = "Runs ImageProcessingFunction (walkthrough tutorial)"


def least_privilege_policy(settings: Settings, account: str) -> dict[str, Any]:
    """Exactly what ``lambda_function.py`` calls, scoped to this tutorial's resources (and its log group)."""
    region = settings.region
    log_group = f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{settings.function_name}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadUploads", "Effect": "Allow", "Action": ["s3:GetObject"],
             "Resource": [f"arn:aws:s3:::{settings.raw_bucket}/*"]},
            # Without it S3 answers a missing key with 403 instead of 404, and the
            # function cannot tell "deleted since the event" from "not allowed".
            {"Sid": "TellMissingUploads", "Effect": "Allow", "Action": ["s3:ListBucket"],
             "Resource": [f"arn:aws:s3:::{settings.raw_bucket}"]},
            {"Sid": "WriteProcessed", "Effect": "Allow", "Action": ["s3:PutObject"],
             "Resource": [f"arn:aws:s3:::{settings.processed_bucket}/*"]},
            {"Sid": "RecordMetadata", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
             "Resource": [f"arn:aws:dynamodb:{region}:{account}:table/{settings.table_name}"]},
            {"Sid": "CreateLogGroup", "Effect": "Allow", "Action": ["logs:CreateLogGroup"], "Resource": [log_group]},
            {"Sid": "WriteLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": [f"{log_group}:*"]},
        ],
    }


def create_role(settings: Settings, policy: str = "least-privilege") -> dict[str, Any]:
    """Create or reconcile the role and its permissions; says what changed."""
    if policy not in POLICY_CHOICES:
        raise WalkthroughError(f"Unknown policy {policy!r}: use 'least-privilege' (the default) or 'managed' (the document's).")
    iam = aws.client(settings, "iam")
    try:
        role = iam.get_role(RoleName=settings.role_name)["Role"]
        status = "exists"
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(
            RoleName=settings.role_name,
            AssumeRolePolicyDocument=json.dumps(TRUST_POLICY),
            Description=ROLE_DESCRIPTION,
            Tags=settings.tag_list(),
        )["Role"]
        status = "created"
    attached = {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=settings.role_name)["AttachedPolicies"]}
    inline = set(iam.list_role_policies(RoleName=settings.role_name)["PolicyNames"])
    changes = []
    if policy == "managed":
        for arn in DOCUMENT_MANAGED_POLICIES:
            if arn not in attached:
                iam.attach_role_policy(RoleName=settings.role_name, PolicyArn=arn)
                changes.append(f"attached {arn.rsplit('/', 1)[-1]}")
        if INLINE_POLICY_NAME in inline:
            iam.delete_role_policy(RoleName=settings.role_name, PolicyName=INLINE_POLICY_NAME)
            changes.append(f"removed {INLINE_POLICY_NAME}")
    else:
        document = least_privilege_policy(settings, aws.account(settings))
        current = None
        if INLINE_POLICY_NAME in inline:
            current = iam.get_role_policy(RoleName=settings.role_name, PolicyName=INLINE_POLICY_NAME)["PolicyDocument"]
            current = json.loads(current) if isinstance(current, str) else current
        if current != document:
            iam.put_role_policy(RoleName=settings.role_name, PolicyName=INLINE_POLICY_NAME, PolicyDocument=json.dumps(document))
            changes.append(f"{'updated' if current else 'added'} {INLINE_POLICY_NAME}")
        for arn in [a for a in DOCUMENT_MANAGED_POLICIES if a in attached]:  # in a stable order: the changes are shown
            iam.detach_role_policy(RoleName=settings.role_name, PolicyArn=arn)
            changes.append(f"detached {arn.rsplit('/', 1)[-1]}")
    if status == "exists" and changes:
        status = "updated"
    return {"role": settings.role_name, "arn": role["Arn"], "status": status, "policy": policy, "changes": changes}


def describe_role(settings: Settings) -> dict[str, Any]:
    """The trust policy and every permission policy document on the role, as the API returns them."""
    iam = aws.client(settings, "iam")
    role = iam.get_role(RoleName=settings.role_name)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    documents: dict[str, Any] = {}
    for name in iam.list_role_policies(RoleName=settings.role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=settings.role_name, PolicyName=name)["PolicyDocument"]
        documents[f"{name} (inline)"] = json.loads(document) if isinstance(document, str) else document
    for attached in iam.list_attached_role_policies(RoleName=settings.role_name)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
        document = version["PolicyVersion"]["Document"]
        documents[f"{attached['PolicyName']} (AWS managed)"] = json.loads(document) if isinstance(document, str) else document
    return {"arn": role["Arn"], "trust_policy": json.loads(trust) if isinstance(trust, str) else trust, "policies": documents}
