"""The moto internals the emulator hooks into still exist (fails naming the one a moto upgrade changed)."""

from __future__ import annotations

import json

import boto3

from walkthrough.emulator import moto_internals
from tests.emulator_helpers import TRUST, zip_files


def test_module_level_internals_are_present():
    assert moto_internals.check_internals() == []


def test_function_attributes_the_runtime_reads_are_present(mocked_aws):
    from moto.awslambda.utils import get_backend

    iam, lam = boto3.client("iam"), boto3.client("lambda")
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    layer = lam.publish_layer_version(LayerName="l", Content={"ZipFile": zip_files({"python/m.py": "X = 1\n"})})["LayerVersionArn"]
    lam.create_function(FunctionName="f", Runtime="python3.12", Role=role, Handler="lambda_function.lambda_handler",
                        Code={"ZipFile": zip_files({"lambda_function.py": "def lambda_handler(e, c): return 1\n"})}, Layers=[layer])
    function = get_backend("123456789012", "us-east-1").get_function("f")
    assert moto_internals.check_internals(function) == []
    spec, code = moto_internals.spec_of(function), moto_internals.code_of(function)
    assert spec.name == "f" and spec.layer_arns == (layer,)
    assert code.code_zip.startswith(b"PK") and len(code.layer_zips) == 1


def test_moto_internals_for_roles_and_async_settings(mocked_aws_with_managed_policies):
    import boto3
    from moto.awslambda.utils import get_backend

    role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    lam = boto3.client("lambda")
    lam.create_function(FunctionName="f", Runtime="python3.12", Role=role, Handler="lambda_function.lambda_handler",
                        Code={"ZipFile": zip_files({"lambda_function.py": "def lambda_handler(e, c): return 1\n"})})
    lam.put_function_concurrency(FunctionName="f", ReservedConcurrentExecutions=3)
    lam.put_function_event_invoke_config(FunctionName="f", MaximumRetryAttempts=1, MaximumEventAgeInSeconds=120,
                                         DestinationConfig={"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:123456789012:q"}})
    function = get_backend("123456789012", "us-east-1").get_function("f")
    assert moto_internals.check_internals(function) == []
    settings = moto_internals.async_settings_of(function)
    assert (settings.max_retry_attempts, settings.max_event_age_s, settings.on_failure, settings.reserved_concurrency) == (
        1, 120, "arn:aws:sqs:us-east-1:123456789012:q", 3)
    minted = moto_internals.mint_role_credentials(role, "f", "us-east-1")
    sts = boto3.client("sts", aws_access_key_id=minted.access_key_id, aws_secret_access_key=minted.secret_access_key,
                       aws_session_token=minted.session_token)
    assert sts.get_caller_identity()["Arn"] == minted.caller_arn == "arn:aws:sts::123456789012:assumed-role/r/f"
    iam_client = boto3.client("iam")
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    iam_client.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument=json.dumps(document))
    iam_client.attach_role_policy(RoleName="r", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    documents = moto_internals.role_policy_documents(role)
    assert documents[0] == document and any("s3:Get*" in json.dumps(d) for d in documents[1:])
    assert moto_internals.role_policy_documents("arn:aws:iam::123456789012:role/gone") is None


BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


def test_after_a_reset_aws_managed_policies_are_as_new(fresh_emulator):
    """The emulator builds AWS managed policies once and hands each new IAM backend copies: attachments must not leak."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    from tests.emulator_helpers import EmulatorHandle, reset

    emulator = EmulatorHandle(fresh_emulator.endpoint, fresh_emulator.port)
    reset(emulator.endpoint)
    iam = emulator.client("iam")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)
    iam.attach_role_policy(RoleName="r", PolicyArn=BASIC_EXECUTION)
    iam.tag_policy(PolicyArn=BASIC_EXECUTION, Tags=[{"Key": "k", "Value": "v"}])
    assert iam.get_policy(PolicyArn=BASIC_EXECUTION)["Policy"]["AttachmentCount"] == 1

    reset(emulator.endpoint)
    policy = iam.get_policy(PolicyArn=BASIC_EXECUTION)["Policy"]
    assert policy["AttachmentCount"] == 0 and not policy.get("Tags")
    version = iam.get_policy_version(PolicyArn=BASIC_EXECUTION, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    assert version["Document"] == json.loads(aws_managed_policies_data)["AWSLambdaBasicExecutionRole"]["Document"]
    listed = iam.list_policies(Scope="AWS", MaxItems=1000)
    assert listed["IsTruncated"] and len(listed["Policies"]) == 1000


def test_a_requests_account_is_found_from_its_key_without_building_other_partitions(mocked_aws, monkeypatch):
    """Every signed request asks whose key it is; the emulator's lookup finds the key's own account.

    moto's own lookup builds the IAM backend of every partition it looks in (each with AWS's 1,582
    managed policies, after every reset); the emulator's looks only in the backends that exist.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam import models as iam_models

    monkeypatch.setattr(iam_models, "get_account_id_from", iam_models.get_account_id_from)  # restored afterwards
    moto_internals._find_key_accounts_without_building_backends()
    teacher = "111111111111"
    backend = iam_models.iam_backends[teacher]["aws"]
    backend.create_user(region_name="us-east-1", user_name="teacher", path="/", tags=[])
    key = backend.create_access_key("teacher").access_key_id

    assert iam_models.get_account_id_from(key) == teacher
    assert iam_models.get_account_id_from("AKIAUNKNOWNKEY000000") == DEFAULT_ACCOUNT_ID  # as moto answers
    assert list(dict.keys(iam_models.iam_backends[teacher])) == ["aws"]  # no other partition built to look in it


def test_cloudformation_internals_are_present_and_the_emulators_models_win():
    """moto's CloudFormation picks a type's model from CloudFormationModel's subclasses; the emulator's must be the ones."""
    from walkthrough.emulator import cloudformation
    from walkthrough.emulator.clients import InternalClients
    from walkthrough.emulator.credentials import PLACEHOLDER

    assert moto_internals.check_cloudformation_internals() == []
    handlers = cloudformation.handlers(InternalClients("http://127.0.0.1:9", PLACEHOLDER))  # never called here
    moto_internals.install_cloudformation(handlers)
    moto_internals.install_cloudformation(handlers)  # idempotent
    for type_name in handlers:
        model = moto_internals.cloudformation_model(type_name)
        assert model is not None and model.__name__.startswith("Walkthrough"), type_name
    for kept in ("AWS::DynamoDB::Table", "AWS::Logs::LogGroup", "AWS::ApiGateway::Method"):
        assert moto_internals.cloudformation_model(kept).__module__.startswith("moto."), kept
    assert moto_internals.check_cloudformation_internals() == []  # the signatures of what it wrapped still hold
