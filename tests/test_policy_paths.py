"""One policy evaluator, followed through every path that uses it.

AWS's evaluation logic (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
an explicit Deny wins; an Allow needs a matching action, resource and
conditions; wildcards match as IAM matches them (``*`` crosses ``/``, ``?`` is
one character). The paths: S3's validation of a notification's Lambda
destination, API Gateway's permission to invoke a function (both Lambda
resource policies, with ``aws:SourceArn`` and ``aws:SourceAccount`` in the
request context, as ``lambda add-permission --source-arn --source-account``
writes them: https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html),
a function's role (identity policies) and bucket policies (covered in
test_enforcement.py and test_emulator_s3_access.py).
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.test_emulator_s3_events import RECORDER
from walkthrough.emulator import policies
from walkthrough.emulator.s3_notifications import unvalidated_destinations

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:f"
BUCKET_ARN = "arn:aws:s3:::raw"


def s3_may_invoke(statement: dict) -> bool:
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    return policies.service_may_invoke(policy, "s3.amazonaws.com", FUNCTION, BUCKET_ARN, "123456789012")


def grant(**condition) -> dict:
    statement = {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "lambda:InvokeFunction", "Resource": FUNCTION}
    if condition:
        statement["Condition"] = condition
    return statement


def test_a_grant_needs_the_right_principal_action_and_resource():
    assert s3_may_invoke(grant())
    assert not s3_may_invoke({**grant(), "Principal": {"Service": "sns.amazonaws.com"}})
    assert not s3_may_invoke({**grant(), "Action": "lambda:GetFunction"})
    assert s3_may_invoke({**grant(), "Action": "lambda:*"})
    assert not s3_may_invoke({**grant(), "Resource": FUNCTION + "-other"})
    assert s3_may_invoke({**grant(), "Resource": "arn:aws:lambda:us-east-1:123456789012:function:*"})


def test_source_arn_and_source_account_conditions_are_judged():
    assert s3_may_invoke(grant(ArnLike={"AWS:SourceArn": BUCKET_ARN}))
    assert s3_may_invoke(grant(ArnLike={"AWS:SourceArn": "arn:aws:s3:::ra?"}))
    assert s3_may_invoke(grant(ArnLike={"AWS:SourceArn": "arn:aws:s3:::r*"}))
    assert not s3_may_invoke(grant(ArnLike={"AWS:SourceArn": "arn:aws:s3:::other"}))
    assert not s3_may_invoke(grant(ArnEquals={"AWS:SourceArn": "arn:aws:s3:::r*"}))  # ArnEquals has no wildcards
    assert s3_may_invoke(grant(StringEquals={"AWS:SourceAccount": "123456789012"}))
    assert not s3_may_invoke(grant(StringEquals={"AWS:SourceAccount": "999999999999"}))
    assert not s3_may_invoke(grant(ArnLike={"AWS:SourceArn": BUCKET_ARN}, StringEquals={"AWS:SourceAccount": "999999999999"}))


def test_an_explicit_deny_wins_over_the_grant():
    deny = {**grant(), "Effect": "Deny"}
    policy = {"Statement": [grant(), deny]}
    assert not policies.service_may_invoke(policy, "s3.amazonaws.com", FUNCTION, BUCKET_ARN, "123456789012")


class _FakeLambda:
    """Just enough of a Lambda client for the validation: one function with this policy."""

    class exceptions:  # noqa: N801 - the boto3 shape
        pass

    def __init__(self, policy: dict | None) -> None:
        self.policy = policy

    def get_policy(self, FunctionName: str) -> dict:  # noqa: N803
        if self.policy is None:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no policy"}}, "GetPolicy")
        return {"Policy": json.dumps(self.policy)}

    def get_function(self, FunctionName: str) -> dict:  # noqa: N803
        return {"Configuration": {"FunctionArn": FunctionName}}


def test_notification_validation_uses_the_evaluator():
    """The wording is S3's: "Not authorized to invoke function [ARN]" inside "Unable to validate …"."""
    allowed = {"Statement": [grant(ArnLike={"AWS:SourceArn": BUCKET_ARN})]}
    assert unvalidated_destinations(_FakeLambda(allowed), "raw", "123456789012", [FUNCTION]) == {}
    denied = {"Statement": [grant(), {**grant(), "Effect": "Deny"}]}
    assert unvalidated_destinations(_FakeLambda(denied), "raw", "123456789012", [FUNCTION]) == {
        FUNCTION: f"Not authorized to invoke function [{FUNCTION}]"}
    assert unvalidated_destinations(_FakeLambda(None), "raw", "123456789012", [FUNCTION]) == {
        FUNCTION: f"Not authorized to invoke function [{FUNCTION}]"}


@pytest.mark.emulator
def test_a_permission_for_another_account_does_not_validate_the_notification(emulator):
    """`add-permission --source-account` names the bucket owner; another account's grant does not let S3 in."""
    s3, lam = emulator.client("s3"), emulator.client("lambda")
    raw = emulator.unique("raw")
    s3.create_bucket(Bucket=raw)
    name = emulator.deploy(RECORDER, Environment={"Variables": {"OUT": raw}})
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                       SourceArn=f"arn:aws:s3:::{raw}", SourceAccount="999999999999")
    configuration = {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]}
    with pytest.raises(ClientError, match="Unable to validate the following destination configurations"):
        s3.put_bucket_notification_configuration(Bucket=raw, NotificationConfiguration=configuration)
    lam.remove_permission(FunctionName=name, StatementId="s3")
    lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                       SourceArn="arn:aws:s3:::raw-*", SourceAccount="123456789012")
    s3.put_bucket_notification_configuration(Bucket=raw, NotificationConfiguration=configuration)
