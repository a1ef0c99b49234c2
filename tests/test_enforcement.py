"""The function runs as its role: least privilege is enough, one permission less fails where AWS fails.

The emulator gives each function temporary credentials of its execution role
and judges the function's S3, DynamoDB and CloudWatch Logs calls against the
role's policies (walkthrough/emulator/roles.py). The tutorial's own calls
(fake ``testing`` keys) are never judged.
"""

from __future__ import annotations

import json
import urllib.request

import parliament
import pytest
from botocore.exceptions import ClientError

from tests.emulator_helpers import TRUST, eventually, unique_settings
from walkthrough import Settings, iam, lambda_fn, pipeline, sequence
from walkthrough.emulator import lifecycle, moto_hooks
from walkthrough.emulator.roles import Check, Roles, evaluate

pytestmark = pytest.mark.emulator
PHOTO = "notebooks/data/photo.jpg"


@pytest.fixture
def settings(emulator):
    return unique_settings(emulator.endpoint, "us-west-2")


def health(emulator) -> dict:
    with urllib.request.urlopen(f"{emulator.endpoint}/_walkthrough/health", timeout=10) as response:
        return json.loads(response.read())


def emulator_log(emulator) -> str:
    return lifecycle.log_file(emulator.port).read_text()


def _without(settings: Settings, action: str) -> dict:
    """The least-privilege policy with one action removed (and statements left empty dropped)."""
    policy = iam.least_privilege_policy(settings, "123456789012")
    for statement in policy["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != action]
    policy["Statement"] = [s for s in policy["Statement"] if s["Action"]]
    return policy


def _put_policy(emulator, settings: Settings, policy: dict) -> None:
    emulator.client("iam").put_role_policy(RoleName=settings.role_name, PolicyName=iam.INLINE_POLICY_NAME, PolicyDocument=json.dumps(policy))


def _processed_keys(emulator, settings: Settings) -> list[str]:
    listing = emulator.client("s3", settings.region).list_objects_v2(Bucket=settings.processed_bucket)
    return [o["Key"] for o in listing.get("Contents", [])]


# ---------------------------------------------------------------------------------------------- least privilege


def test_least_privilege_policy_has_no_parliament_findings():
    policy = iam.least_privilege_policy(Settings(), "123456789012")
    assert parliament.analyze_policy_string(json.dumps(policy), include_community_auditors=True).findings == []
    # The linter is awake: the same actions on the wrong kind of resource are findings.
    wrong = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "dynamodb:PutItem"], "Resource": ["arn:aws:s3:::raw-image-bucket"]}]}
    assert {f.issue for f in parliament.analyze_policy_string(json.dumps(wrong)).findings} == {"RESOURCE_MISMATCH"}


def test_least_privilege_is_enough_for_the_pipeline(settings, emulator):
    sequence.ensure_before(settings, 6)  # least privilege by default
    item = pipeline.process(settings, PHOTO)
    assert item["status"] == "processed" and item["processed_key"] == "processed-photo.jpg"
    assert _processed_keys(emulator, settings) == ["processed-photo.jpg"]
    assert any(line.startswith("REPORT RequestId") for line in lambda_fn.recent_log_lines(settings))  # its log is delivered


def test_the_documents_managed_policies_are_enough_too(settings, emulator):
    sequence.ensure_before(settings, 6, policy="managed")
    assert iam.describe_role(settings)["policies"].keys() >= {"AmazonDynamoDBFullAccess (AWS managed)"}
    assert pipeline.process(settings, PHOTO)["status"] == "processed"


def test_without_put_item_the_function_fails_where_aws_fails(settings, emulator):
    sequence.ensure_before(settings, 6)
    _put_policy(emulator, settings, _without(settings, "dynamodb:PutItem"))
    before = health(emulator)
    pipeline.upload(settings, PHOTO)
    emulator.wait_idle(60)

    assert pipeline.metadata_item(settings, "photo.jpg") is None  # no item: every attempt was denied
    assert _processed_keys(emulator, settings) == ["processed-photo.jpg"]  # GetObject and PutObject were allowed
    log = "\n".join(lambda_fn.recent_log_lines(settings))
    denied = (f"is not authorized to perform: dynamodb:PutItem on resource: "
              f"arn:aws:dynamodb:us-west-2:123456789012:table/{settings.table_name}")
    assert "AccessDeniedException" in log and denied in log
    assert f"assumed-role/{settings.role_name}/{settings.function_name}" in log
    assert log.count("START RequestId") == 3  # the first attempt and Lambda's two retries
    after = health(emulator)
    assert after["failed_events"] == before["failed_events"] + 1 and after["retries"] >= before["retries"] + 2


def test_get_object_of_a_missing_key_is_404_only_with_list_bucket(settings, emulator):
    sequence.ensure_before(settings, 5)
    missing = {"bucket": settings.raw_bucket, "key": "nothing-here.jpg"}
    assert lambda_fn.invoke(settings, missing)["result"]["statusCode"] == 404
    _put_policy(emulator, settings, _without(settings, "s3:ListBucket"))
    answer = lambda_fn.invoke(settings, missing)["result"]
    assert answer["statusCode"] == 422 and "access denied reading the object" in answer["error"]


# ---------------------------------------------------------------------------------------------- the mechanism

IDENTITY = '''
import json, os, boto3
def lambda_handler(event, context):
    who = boto3.client("sts").get_caller_identity()["Arn"]
    outcome = {}
    for bucket in (os.environ["ALLOWED"], os.environ["OTHER"]):
        try:
            boto3.client("s3").put_object(Bucket=bucket, Key="k", Body=b"x")
            outcome[bucket] = "written"
        except Exception as exc:
            outcome[bucket] = exc.response["Error"]["Code"]
    return {"who": who, "key": os.environ["AWS_ACCESS_KEY_ID"], "token": bool(os.environ.get("AWS_SESSION_TOKEN")), "outcome": outcome}
'''


def _role_with(emulator, statements: list[dict]) -> str:
    iam_client = emulator.client("iam")
    name = emulator.unique("fnrole")
    arn = iam_client.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    if statements:
        iam_client.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return arn


def _deploy_as(emulator, role_arn: str, source: str, **env: str) -> str:
    from tests.emulator_helpers import zip_files

    name = emulator.unique("fn")
    emulator.client("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=role_arn, Handler="lambda_function.lambda_handler",
        Code={"ZipFile": zip_files({"lambda_function.py": source})}, Timeout=10, Environment={"Variables": env},
    )
    return name


def test_function_runs_with_its_roles_credentials_and_only_its_rights(emulator):
    s3 = emulator.client("s3")
    allowed, other = emulator.unique("allowed"), emulator.unique("other")
    for bucket in (allowed, other):
        s3.create_bucket(Bucket=bucket)
    role = _role_with(emulator, [
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{allowed}/*"},
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"},
    ])
    name = _deploy_as(emulator, role, IDENTITY, ALLOWED=allowed, OTHER=other)
    result, error = emulator.invoke(name)
    assert error is None, result
    assert result["who"] == f"arn:aws:sts::123456789012:assumed-role/{role.rsplit('/', 1)[1]}/{name}"
    assert result["key"].startswith("ASIA") and result["token"]
    assert result["outcome"] == {allowed: "written", other: "AccessDenied"}
    s3.put_object(Bucket=other, Key="by-the-tutorial", Body=b"x")  # the tutorial's own keys are never judged


def test_an_explicit_deny_wins_over_a_managed_allow(emulator):
    s3 = emulator.client("s3")
    allowed, other = emulator.unique("allowed"), emulator.unique("other")
    for bucket in (allowed, other):
        s3.create_bucket(Bucket=bucket)
    role = _role_with(emulator, [{"Effect": "Deny", "Action": "s3:Put*", "Resource": f"arn:aws:s3:::{other}/*"}])
    emulator.client("iam").attach_role_policy(RoleName=role.rsplit("/", 1)[1], PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    name = _deploy_as(emulator, role, IDENTITY, ALLOWED=allowed, OTHER=other)
    assert emulator.invoke(name)[0]["outcome"] == {allowed: "written", other: "AccessDenied"}


def test_without_log_permissions_the_log_is_dropped_as_lambda_does(emulator):
    s3 = emulator.client("s3")
    allowed = emulator.unique("allowed")
    s3.create_bucket(Bucket=allowed)
    role = _role_with(emulator, [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}])
    name = _deploy_as(emulator, role, IDENTITY, ALLOWED=allowed, OTHER=allowed)
    assert emulator.invoke(name)[1] is None
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        emulator.log_messages(name)  # no log group: Lambda could not create one with this role
    assert eventually(lambda: "so its log is dropped" in emulator_log(emulator) and name in emulator_log(emulator), timeout=5)


def test_identity_policy_evaluation():
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/T"
    allow = {"Statement": [{"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Put*"], "Resource": table}]}
    assert evaluate([allow], Check("dynamodb:PutItem", table)) == "Allow"
    assert evaluate([allow], Check("DynamoDB:getitem", table)) == "Allow"  # actions ignore case
    assert evaluate([allow], Check("dynamodb:PutItem", table + "2")) == "ImplicitDeny"
    assert evaluate([allow], Check("dynamodb:DeleteItem", table)) == "ImplicitDeny"
    deny = {"Statement": [{"Effect": "Deny", "NotAction": "dynamodb:GetItem", "Resource": "*"}]}
    assert evaluate([allow, deny], Check("dynamodb:PutItem", table)) == "Deny"
    assert evaluate([allow, deny], Check("dynamodb:GetItem", table)) == "Allow"
    conditional = {"Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
                                  "Condition": {"StringLike": {"s3:prefix": "uploads/*"}}}]}
    assert evaluate([conditional], Check("s3:ListBucket", "arn:aws:s3:::b"), {"s3:prefix": "uploads/a.jpg"}) == "Allow"
    assert evaluate([conditional], Check("s3:ListBucket", "arn:aws:s3:::b"), {"s3:prefix": "other/"}) == "ImplicitDeny"
    group = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/F"
    lambda_style = {"Statement": [{"Effect": "Allow", "Action": "logs:CreateLogStream", "Resource": group + ":*"}]}
    assert evaluate([lambda_style], Check("logs:CreateLogStream", group + ":log-stream:2026/01/01/[$LATEST]abc")) == "Allow"
    assert evaluate([lambda_style], Check("logs:DescribeLogStreams", group, also=(group + ":*",))) == "ImplicitDeny"


def test_a_role_without_any_policy_is_unrestricted_unless_strict(monkeypatch):
    monkeypatch.setattr(moto_hooks, "role_policy_documents", lambda arn: [] if arn.endswith("/bare") else None)
    check = Check("s3:PutObject", "arn:aws:s3:::b/k")
    assert Roles("enforce").decide("arn:aws:iam::123456789012:role/bare", check) == "Unrestricted"
    assert Roles("strict").decide("arn:aws:iam::123456789012:role/bare", check) == "ImplicitDeny"
    assert Roles("enforce").decide("arn:aws:iam::123456789012:role/deleted", check) == "ImplicitDeny"
    assert Roles("off").decide("arn:aws:iam::123456789012:role/deleted", check) == "Unrestricted"


def test_moto_internals_for_roles_and_async_settings(mocked_aws_with_managed_policies):
    import boto3
    from moto.awslambda.utils import get_backend

    from tests.emulator_helpers import zip_files

    role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    lam = boto3.client("lambda")
    lam.create_function(FunctionName="f", Runtime="python3.12", Role=role, Handler="lambda_function.lambda_handler",
                        Code={"ZipFile": zip_files({"lambda_function.py": "def lambda_handler(e, c): return 1\n"})})
    lam.put_function_concurrency(FunctionName="f", ReservedConcurrentExecutions=3)
    lam.put_function_event_invoke_config(FunctionName="f", MaximumRetryAttempts=1, MaximumEventAgeInSeconds=120,
                                         DestinationConfig={"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:123456789012:q"}})
    function = get_backend("123456789012", "us-east-1").get_function("f")
    assert moto_hooks.check_internals(function) == [] and moto_hooks.check_role_internals(function) == []
    settings = moto_hooks.async_settings_of(function)
    assert (settings.max_retry_attempts, settings.max_event_age_s, settings.on_failure, settings.reserved_concurrency) == (
        1, 120, "arn:aws:sqs:us-east-1:123456789012:q", 3)
    minted = moto_hooks.mint_role_credentials(role, "f", "us-east-1")
    sts = boto3.client("sts", aws_access_key_id=minted.access_key_id, aws_secret_access_key=minted.secret_access_key,
                       aws_session_token=minted.session_token)
    assert sts.get_caller_identity()["Arn"] == minted.caller_arn == "arn:aws:sts::123456789012:assumed-role/r/f"
    iam_client = boto3.client("iam")
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    iam_client.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument=json.dumps(document))
    iam_client.attach_role_policy(RoleName="r", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    documents = moto_hooks.role_policy_documents(role)
    assert documents[0] == document and any("s3:Get*" in json.dumps(d) for d in documents[1:])
    assert moto_hooks.role_policy_documents("arn:aws:iam::123456789012:role/gone") is None
