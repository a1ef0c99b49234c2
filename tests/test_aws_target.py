"""What real AWS needs and the emulator forgives, tested without an account.

botocore's ``Stubber`` plays AWS's answers (including the ones the emulator
never gives: a role not yet usable, a bucket name taken by someone else, a
distribution still deploying), and moto's in-process mock stands in for an
account where whole behaviours (names, tags, the confirmation gate, teardown
by tags) are checked. Nothing leaves the process.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from datetime import datetime, timezone

import boto3
import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from walkthrough import aws, buckets, cdn, klayers, lambda_fn, layer, safety, table, teardown
from walkthrough.__main__ import main
from walkthrough.config import Settings
from walkthrough.errors import WalkthroughError

ACCOUNT = "111122223333"
ROLE_ERROR = "The role defined for the function cannot be assumed by Lambda."
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/LambdaImageProcessingRole"
OK = {"ResponseMetadata": {"HTTPStatusCode": 200}}  # what waiters match on


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch):
    """No cached clients or confirmations carried between tests; nobody to ask."""
    aws._cached_client.cache_clear()
    safety.forget()
    monkeypatch.setattr(safety, "_interactive", lambda: False)
    yield
    aws._cached_client.cache_clear()
    safety.forget()


def aws_settings(region: str = "eu-west-1", **changes) -> Settings:
    """Target aws at the dead loopback endpoint the tests force (a Stubber answers instead)."""
    return Settings.from_env(target="aws", region=region, account_id=ACCOUNT, confirm=True, **changes)


def client_error(code: str, message: str = "", status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


# --------------------------------------------------------------------------- sessions


def test_each_session_on_aws_reads_the_credentials_afresh_and_botocores_files_once(monkeypatch):
    """A key changed between two clients is the one the second uses; botocore's model files are read by one loader."""
    monkeypatch.setattr(botocore.session, "create_loader", botocore.loaders.create_loader)  # not the tests' shared one
    settings = aws_settings()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFIRSTKEY")
    first = aws.session(settings)
    assert first.get_credentials().access_key == "AKIAFIRSTKEY"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASECONDKEY")
    second = aws.session(settings)
    assert second.get_credentials().access_key == "AKIASECONDKEY"
    loaders = [s._session.get_component("data_loader") for s in (first, second, aws.session(aws_settings("us-west-2")))]
    assert loaders[0] is loaders[1] is loaders[2]
    assert len(loaders[0].search_paths) == len(set(loaders[0].search_paths))  # boto3 adds its folder once, not per session


# --------------------------------------------------------------------------- names and tags


def test_aws_bucket_names_carry_account_and_region_and_local_names_are_the_documents():
    settings = aws_settings("ap-southeast-2")
    assert settings.raw_bucket == f"raw-image-bucket-{ACCOUNT}-ap-southeast-2"
    assert settings.processed_bucket == f"processed-image-bucket-{ACCOUNT}-ap-southeast-2"
    assert (settings.table_name, settings.role_name, settings.function_name) == (
        "ImageMetadata", "LambdaImageProcessingRole", "ImageProcessingFunction")
    assert len(settings.processed_bucket) <= 63
    local = Settings.from_env({})
    assert (local.raw_bucket, local.processed_bucket) == ("raw-image-bucket", "processed-image-bucket")
    assert aws_settings(raw_bucket="my-own-name").raw_bucket == "my-own-name"
    assert settings.tags == {"project": "walkthrough", "walkthrough:run": "default"}
    assert aws_settings(run_name="workshop-7").tags["walkthrough:run"] == "workshop-7"


def test_settings_read_the_run_name_bucket_overrides_and_confirmation_from_env_and_parameters():
    env = {"WALKTHROUGH_TARGET": "aws", "WALKTHROUGH_RUN_NAME": "workshop", "WALKTHROUGH_RAW_BUCKET": "my-raw-bucket"}
    settings = Settings.from_env(env, account_id=ACCOUNT, confirm="True")
    assert (settings.run_name, settings.raw_bucket, settings.confirmed) == ("workshop", "my-raw-bucket", True)
    assert settings.processed_bucket == f"processed-image-bucket-{ACCOUNT}-us-east-1"
    assert Settings.from_env(env, confirm=False).confirmed is False
    assert Settings.from_env({}, run_name="x").tag_list() == [{"Key": "project", "Value": "walkthrough"},
                                                               {"Key": "walkthrough:run", "Value": "x"}]


def test_the_account_is_asked_from_sts_once_per_target(mocked_aws):
    unresolved = Settings.from_env(target="aws", region="eu-west-1")
    with pytest.raises(WalkthroughError, match="aws.settings"):
        unresolved.raw_bucket  # a plain value: it never calls AWS by itself
    sts = aws.client(unresolved, "sts")
    calls = []
    sts.meta.events.register("before-call.sts.GetCallerIdentity", lambda **kw: calls.append(1))
    settings = aws.resolve(unresolved)
    assert aws.resolve(unresolved).account_id == aws.account(unresolved) == "123456789012"
    assert settings.raw_bucket == "raw-image-bucket-123456789012-eu-west-1"
    assert settings.processed_bucket.endswith("-123456789012-eu-west-1")
    assert settings.with_(table_name="Other").raw_bucket == settings.raw_bucket
    assert len(calls) == 1


def test_a_run_on_aws_tags_every_resource_it_creates(mocked_aws):
    settings = aws.resolve(Settings.from_env(target="aws", region="eu-west-1", confirm=True, run_name="t1"))
    rows = buckets.create_buckets(settings)
    assert [r["bucket"] for r in rows] == ["raw-image-bucket-123456789012-eu-west-1", "processed-image-bucket-123456789012-eu-west-1"]
    for name in buckets.bucket_names(settings):
        tags = {t["Key"]: t["Value"] for t in boto3.client("s3").get_bucket_tagging(Bucket=name)["TagSet"]}
        assert tags == {"project": "walkthrough", "walkthrough:run": "t1"}
    table.create_table(settings)
    dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
    arn = dynamodb.describe_table(TableName="ImageMetadata")["Table"]["TableArn"]
    assert {t["Key"]: t["Value"] for t in dynamodb.list_tags_of_resource(ResourceArn=arn)["Tags"]}["walkthrough:run"] == "t1"


# --------------------------------------------------------------------------- buckets


def _expect_created(stub: Stubber, settings: Settings, expected_create: dict) -> None:
    stub.add_client_error("head_bucket", service_error_code="404", http_status_code=404, expected_params={"Bucket": settings.raw_bucket})
    stub.add_response("create_bucket", {}, expected_create)
    stub.add_response("head_bucket", OK, {"Bucket": settings.raw_bucket})  # the bucket_exists waiter


@pytest.mark.parametrize("region, configuration", [
    ("us-east-1", None),
    ("eu-west-1", {"LocationConstraint": "eu-west-1"}),
    ("ap-southeast-2", {"LocationConstraint": "ap-southeast-2"}),
])
def test_create_bucket_gives_a_location_constraint_everywhere_but_us_east_1(region, configuration):
    settings = aws_settings(region)
    expected = {"Bucket": settings.raw_bucket, **({"CreateBucketConfiguration": configuration} if configuration else {})}
    with Stubber(aws.client(settings, "s3")) as stub:
        _expect_created(stub, settings, expected)
        assert buckets.ensure_bucket(settings, settings.raw_bucket) == "created"
        stub.assert_no_pending_responses()


def test_a_bucket_name_taken_by_another_account_is_a_one_line_error_naming_the_fix():
    settings = aws_settings()
    with Stubber(aws.client(settings, "s3")) as stub:
        stub.add_client_error("head_bucket", service_error_code="404", http_status_code=404)
        stub.add_client_error("create_bucket", service_error_code="BucketAlreadyExists", http_status_code=409)
        with pytest.raises(WalkthroughError) as error:
            buckets.ensure_bucket(settings, settings.raw_bucket)
    message = str(error.value)
    assert "\n" not in message and "another AWS account" in message and "WALKTHROUGH_RAW_BUCKET=" in message


def test_a_bucket_that_forbids_us_is_someone_elses_too():
    settings = aws_settings()
    with Stubber(aws.client(settings, "s3")) as stub:
        stub.add_client_error("head_bucket", service_error_code="403", http_status_code=403)
        with pytest.raises(WalkthroughError, match="WALKTHROUGH_RAW_BUCKET"):
            buckets.ensure_bucket(settings, settings.raw_bucket)


def test_bucket_already_owned_by_you_is_success():
    settings = aws_settings()
    with Stubber(aws.client(settings, "s3")) as stub:
        stub.add_client_error("head_bucket", service_error_code="404", http_status_code=404)
        stub.add_client_error("create_bucket", service_error_code="BucketAlreadyOwnedByYou", http_status_code=409)
        assert buckets.ensure_bucket(settings, settings.raw_bucket) == "exists"
        stub.assert_no_pending_responses()


def test_in_us_east_1_our_existing_bucket_is_found_before_create_bucket_could_answer_200():
    settings = aws_settings("us-east-1")
    with Stubber(aws.client(settings, "s3")) as stub:
        stub.add_response("head_bucket", {}, {"Bucket": settings.raw_bucket})
        stub.add_response("get_bucket_location", {}, {"Bucket": settings.raw_bucket})  # us-east-1 answers no constraint
        assert buckets.ensure_bucket(settings, settings.raw_bucket) == "exists"
        stub.assert_no_pending_responses()  # and no create_bucket was sent


def test_our_bucket_in_another_region_is_a_clear_error():
    settings = aws_settings("eu-west-1")
    with Stubber(aws.client(settings, "s3")) as stub:
        stub.add_response("head_bucket", {})
        stub.add_response("get_bucket_location", {"LocationConstraint": "us-west-2"})
        with pytest.raises(WalkthroughError, match="us-west-2"):
            buckets.ensure_bucket(settings, settings.raw_bucket)


# --------------------------------------------------------------------------- the role's propagation


@pytest.fixture
def no_sleep(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(lambda_fn, "_sleep", slept.append)
    return slept


def test_create_function_is_retried_while_the_new_role_propagates(no_sleep):
    calls, notes = [], []

    def create():
        calls.append(1)
        if len(calls) <= 3:
            raise client_error("InvalidParameterValueException", ROLE_ERROR)
        return "created"

    assert lambda_fn.retry_while_role_propagates(create, ROLE_ARN, notify=notes.append) == "created"
    assert len(calls) == 4 and len(notes) == 3 and len(no_sleep) == 3
    assert all("not usable by Lambda yet" in n and "propagate" in n for n in notes)
    assert no_sleep == sorted(no_sleep) and sum(no_sleep) < lambda_fn.ROLE_WAIT_S  # backoff


def test_another_invalid_parameter_is_not_retried(no_sleep):
    calls = []

    def create():
        calls.append(1)
        raise client_error("InvalidParameterValueException", "Value python2.7 at 'runtime' failed to satisfy constraint")

    with pytest.raises(ClientError):
        lambda_fn.retry_while_role_propagates(create, ROLE_ARN, notify=lambda _: None)
    assert len(calls) == 1 and no_sleep == []


def test_the_role_wait_gives_up_after_two_minutes(no_sleep):
    def create():
        raise client_error("InvalidParameterValueException", ROLE_ERROR)

    with pytest.raises(WalkthroughError, match="trust policy"):
        lambda_fn.retry_while_role_propagates(create, ROLE_ARN, notify=lambda _: None)
    assert sum(no_sleep) == pytest.approx(lambda_fn.ROLE_WAIT_S)


def _function_configuration(settings: Settings) -> dict:
    return {"FunctionName": settings.function_name, "FunctionArn": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{settings.function_name}",
            "Runtime": "python3.12", "Handler": lambda_fn.HANDLER, "MemorySize": 1024, "Timeout": 60, "Role": ROLE_ARN,
            "State": "Active", "LastUpdateStatus": "Successful", "Layers": [{"Arn": "arn:layer:1"}],
            "Environment": {"Variables": {}}}


def test_deploy_function_retries_create_function_and_says_why(no_sleep, capsys):
    settings = aws_settings()
    lam = aws.client(settings, "lambda")
    with Stubber(lam) as stub:
        stub.add_client_error("get_function", service_error_code="ResourceNotFoundException", http_status_code=404)
        for _ in range(2):
            stub.add_client_error("create_function", service_error_code="InvalidParameterValueException",
                                  service_message=ROLE_ERROR, http_status_code=400)
        stub.add_response("create_function", _function_configuration(settings),
                          {"FunctionName": settings.function_name, "Code": ANY, "Publish": False, "Architectures": ["x86_64"],
                           "Tags": settings.tags, "Role": ROLE_ARN, "Handler": ANY, "Runtime": "python3.12", "MemorySize": ANY,
                           "Timeout": ANY, "Layers": ["arn:layer:1"], "Environment": ANY, "LoggingConfig": ANY,
                           "Description": ANY})
        stub.add_response("get_function", {"Configuration": _function_configuration(settings)})  # function_active_v2
        stub.add_response("get_function", {"Configuration": _function_configuration(settings)})  # describe_function
        result = lambda_fn.deploy_function(settings, ROLE_ARN, "arn:layer:1")
        stub.assert_no_pending_responses()
    assert result["status"] == "created" and len(no_sleep) == 2
    out = capsys.readouterr().out
    assert out.count("not usable by Lambda yet") == 2


def test_a_deleted_klayers_version_is_explained():
    settings = aws_settings()
    arn = layer.document_layer_arn("eu-west-1")
    with Stubber(aws.client(settings, "lambda")) as stub:
        stub.add_client_error("get_function", service_error_code="ResourceNotFoundException", http_status_code=404)
        stub.add_client_error("create_function", service_error_code="InvalidParameterValueException",
                              service_message=f"Layer version {arn} does not exist.", http_status_code=400)
        with pytest.raises(WalkthroughError, match="pillow_layer='klayers'"):
            lambda_fn.deploy_function(settings, ROLE_ARN, arn)


# --------------------------------------------------------------------------- CloudFront


def _distribution(settings: Settings, status: str, enabled: bool) -> dict:
    config = cdn.distribution_config(settings, {"kind": "OAC", "id": "OAC1"})
    config["Enabled"] = enabled
    return {"Id": "E1", "ARN": f"arn:aws:cloudfront::{ACCOUNT}:distribution/E1", "Status": status,
            "LastModifiedTime": datetime(2026, 1, 1, tzinfo=timezone.utc), "InProgressInvalidationBatches": 0,
            "DomainName": "d111111abcdef8.cloudfront.net", "DistributionConfig": config}


def test_distribution_is_disabled_waited_for_then_deleted_with_each_current_etag(monkeypatch, capsys):
    settings = aws_settings()
    slept: list[float] = []
    monkeypatch.setattr(cdn, "_sleep", slept.append)
    enabled = _distribution(settings, "Deployed", True)
    disabled_config = {**enabled["DistributionConfig"], "Enabled": False}
    with Stubber(aws.client(settings, "cloudfront")) as stub:
        stub.add_response("get_distribution_config", {"DistributionConfig": enabled["DistributionConfig"], "ETag": "ETAG1"}, {"Id": "E1"})
        stub.add_response("update_distribution", {"ETag": "ETAG2"},
                          {"Id": "E1", "IfMatch": "ETAG1", "DistributionConfig": disabled_config})
        stub.add_response("get_distribution", {"Distribution": _distribution(settings, "InProgress", False), "ETag": "ETAG2"}, {"Id": "E1"})
        stub.add_response("get_distribution", {"Distribution": _distribution(settings, "InProgress", False), "ETag": "ETAG2"}, {"Id": "E1"})
        stub.add_response("get_distribution", {"Distribution": _distribution(settings, "Deployed", False), "ETag": "ETAG3"}, {"Id": "E1"})
        stub.add_response("get_distribution_config", {"DistributionConfig": disabled_config, "ETag": "ETAG3"}, {"Id": "E1"})
        stub.add_response("delete_distribution", {}, {"Id": "E1", "IfMatch": "ETAG3"})
        result = teardown.delete_distribution(settings, "E1", "Deployed")
        stub.assert_no_pending_responses()
    assert result == "deleted (disabled, deployed first)"
    assert slept == [cdn.POLL_S["aws"]] * 2
    assert "CloudFront deploying E1" in capsys.readouterr().err  # the progress bar


@pytest.mark.emulator
def test_against_the_emulator_as_an_aws_endpoint_waits_poll_at_its_pace_not_cloudfronts(emulator, monkeypatch):
    """The aws target pointed at the emulator (AWS_ENDPOINT_URL): it deploys at once, so a 15 s poll would only wait."""
    settings = aws_settings(endpoint_url=emulator.endpoint)
    assert aws.on_emulator(settings) and not aws.on_emulator(aws_settings())
    slept: list[float] = []
    monkeypatch.setattr(cdn, "_sleep", slept.append)
    with Stubber(aws.client(settings, "cloudfront")) as stub:
        stub.add_response("get_distribution", {"Distribution": _distribution(settings, "InProgress", True)}, {"Id": "E1"})
        stub.add_response("get_distribution", {"Distribution": _distribution(settings, "Deployed", True)}, {"Id": "E1"})
        assert cdn.wait_deployed(settings, "E1", progress=False) == "Deployed"
    assert slept == [cdn.POLL_S["local"]]


def test_a_disabled_distribution_still_deploying_is_waited_for_before_deletion(monkeypatch):
    settings = aws_settings()
    monkeypatch.setattr(cdn, "_sleep", lambda s: None)
    disabled = _distribution(settings, "InProgress", False)
    with Stubber(aws.client(settings, "cloudfront")) as stub:
        stub.add_response("get_distribution_config", {"DistributionConfig": disabled["DistributionConfig"], "ETag": "ETAG1"})
        stub.add_response("get_distribution", {"Distribution": _distribution(settings, "Deployed", False)})
        stub.add_response("get_distribution_config", {"DistributionConfig": disabled["DistributionConfig"], "ETag": "ETAG2"})
        stub.add_response("delete_distribution", {}, {"Id": "E1", "IfMatch": "ETAG2"})
        teardown.delete_distribution(settings, "E1", "InProgress")
        stub.assert_no_pending_responses()


def test_a_deploy_that_never_ends_is_a_clear_error(monkeypatch):
    settings = aws_settings()
    monkeypatch.setattr(cdn, "_sleep", lambda s: None)
    with Stubber(aws.client(settings, "cloudfront")) as stub:
        for _ in range(4):
            stub.add_response("get_distribution", {"Distribution": _distribution(settings, "InProgress", True)})
        with pytest.raises(WalkthroughError, match="still InProgress"):
            cdn.wait_deployed(settings, "E1", timeout_s=3 * cdn.POLL_S["aws"], progress=False)


def test_aws_addresses_are_aws_ones_unless_the_endpoint_is_the_emulator(emulator):
    settings = aws_settings()  # endpoint: the dead loopback port, not an emulator
    distribution = {"id": "E1", "domain": "d111111abcdef8.cloudfront.net"}
    assert aws.emulator_endpoint(settings) is None
    assert cdn.url_for(settings, distribution, "a.jpg") == "https://d111111abcdef8.cloudfront.net/a.jpg"
    assert cdn.direct_s3_url(settings, "a.jpg") == f"https://{settings.processed_bucket}.s3.eu-west-1.amazonaws.com/a.jpg"
    on_emulator = aws_settings(endpoint_url=emulator.endpoint)
    assert aws.emulator_endpoint(on_emulator) == emulator.endpoint
    assert cdn.url_for(on_emulator, distribution, "a.jpg") == f"{emulator.endpoint}/_walkthrough/cloudfront/E1/a.jpg"
    from walkthrough import api

    assert api.invoke_url(on_emulator, "abc123").startswith(f"{emulator.endpoint}/_walkthrough/apigateway/abc123/prod/")
    assert api.invoke_url(settings, "abc123") == "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/process"


# --------------------------------------------------------------------------- Klayers


class _Answer(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


KLAYERS_LIST = [
    {"package": "requests", "arn": "arn:aws:lambda:eu-west-1:770693421928:layer:Klayers-p312-requests:14", "packageVersion": "2.32.3"},
    {"package": "Pillow", "arn": "arn:aws:lambda:eu-west-1:770693421928:layer:Klayers-p312-pillow:9", "packageVersion": "11.0.0"},
    {"package": "Pillow", "arn": "arn:aws:lambda:eu-west-1:770693421928:layer:Klayers-p312-pillow:12", "packageVersion": "12.1.0"},
]


def test_klayers_lookup_reads_the_current_pillow_arn_for_the_region(monkeypatch):
    asked = []

    def fake_urlopen(request, timeout):
        asked.append((request.full_url, timeout))
        return _Answer(json.dumps(KLAYERS_LIST).encode())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    row = layer.pillow_layer(aws_settings(), "klayers")
    assert row["arn"] == "arn:aws:lambda:eu-west-1:770693421928:layer:Klayers-p312-pillow:12"
    assert row["pillow"] == "12.1.0" and "current" in row["status"]
    assert asked == [("https://api.klayers.cloud/api/v2/p3.12/layers/latest/eu-west-1/json", klayers.TIMEOUT_S)]


@pytest.mark.parametrize("failure", [
    urllib.error.URLError("[Errno -2] Name or service not known"),
    TimeoutError("timed out"),
    "not json",
    json.dumps([{"package": "numpy", "arn": "arn:aws:lambda:eu-west-1:770693421928:layer:Klayers-p312-numpy:3"}]),
])
def test_klayers_unreachable_falls_back_to_the_documents_arn_with_one_warning(failure, monkeypatch, capsys):
    def fake_urlopen(request, timeout):
        if isinstance(failure, Exception):
            raise failure
        return _Answer(failure.encode())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    row = layer.pillow_layer(aws_settings(), "klayers")
    assert row["arn"] == layer.document_layer_arn("eu-west-1") == "arn:aws:lambda:eu-west-1:770693421928:layer:Klayers-p312-Pillow:6"
    assert "Klayers unreachable" in row["status"]
    warning = capsys.readouterr().err.strip()
    assert warning.startswith("warning: could not look up Klayers") and "\n" not in warning


def test_pillow_layer_choices_and_their_defaults():
    assert layer.default_choice(Settings.from_env({})) == "local"
    assert layer.default_choice(aws_settings()) == "klayers"
    assert layer.pillow_layer(aws_settings(), "document")["arn"] == layer.document_layer_arn("eu-west-1")
    with pytest.raises(WalkthroughError, match="only suits the emulator"):
        layer.pillow_layer(aws_settings(), "local")
    with pytest.raises(WalkthroughError, match="'build'"):
        layer.pillow_layer(aws_settings(), "pip")


# --------------------------------------------------------------------------- the confirmation gate


def _bucket_names() -> list[str]:
    return [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]


def test_without_confirmation_nothing_is_created_on_aws(mocked_aws):
    settings = aws.resolve(Settings.from_env(target="aws", region="eu-west-1"))
    with pytest.raises(WalkthroughError) as error:
        buckets.create_buckets(settings)
    message = str(error.value)
    assert "\n" not in message and "confirm = True" in message and "--yes" in message and "123456789012" in message
    assert _bucket_names() == []


def test_with_confirmation_the_same_step_creates(mocked_aws):
    settings = aws.resolve(Settings.from_env(target="aws", region="eu-west-1", confirm=True))
    buckets.create_buckets(settings)
    assert sorted(_bucket_names()) == sorted(buckets.bucket_names(settings))
    # confirmed once in this process: a settings object without the flag may create too
    table.create_table(aws.resolve(Settings.from_env(target="aws", region="eu-west-1")))


def test_the_gate_covers_every_creating_call_not_reads_or_deletions(mocked_aws):
    settings = aws.resolve(Settings.from_env(target="aws", region="eu-west-1"))
    lam = aws.client(settings, "lambda")
    lam.list_functions()  # a read passes
    with pytest.raises(WalkthroughError):
        lam.publish_layer_version(LayerName="x", Content={"ZipFile": b"PK"})
    with pytest.raises(WalkthroughError):
        aws.client(settings, "iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")
    assert boto3.client("iam").list_roles()["Roles"] == []
    teardown.teardown(settings)  # deleting never asks


def test_an_interactive_session_is_asked_once(mocked_aws, monkeypatch):
    monkeypatch.setattr(safety, "_interactive", lambda: True)
    questions = []
    monkeypatch.setattr("builtins.input", lambda q: questions.append(q) or "yes")
    settings = aws.resolve(Settings.from_env(target="aws", region="eu-west-1"))
    buckets.create_buckets(settings)
    table.create_table(settings)
    assert len(questions) == 1 and "123456789012" in questions[0] and "eu-west-1" in questions[0]


def test_an_interactive_no_creates_nothing(mocked_aws, monkeypatch):
    monkeypatch.setattr(safety, "_interactive", lambda: True)
    monkeypatch.setattr("builtins.input", lambda q: "n")
    with pytest.raises(WalkthroughError, match="did not confirm"):
        buckets.create_buckets(aws.resolve(Settings.from_env(target="aws", region="eu-west-1")))
    assert _bucket_names() == []


def test_the_local_emulator_never_asks():
    assert safety.require_confirmation(Settings.from_env({})) == "local emulator"


def test_run_on_aws_without_yes_stops_before_any_notebook(mocked_aws, capsys, tmp_path):
    code = main(["run", "--target", "aws", "--region", "eu-west-1", "--output", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 1
    assert "AWS account 123456789012" in captured.out  # the target is shown first
    error = captured.err.strip()
    assert error.startswith("walkthrough: error: Nothing was created") and "--yes" in error and "\n" not in error
    assert list(tmp_path.iterdir()) == []  # no notebook ran


def test_run_on_aws_with_yes_shows_the_target_then_passes_confirm_to_the_notebooks(mocked_aws, capsys, monkeypatch, tmp_path):
    from walkthrough import runner

    seen = {}

    def fake_run(notebooks, parameters, output_dir, **kwargs):
        seen.update(parameters)
        return [{"notebook": n.stem, "seconds": 0.0, "output": str(output_dir / n.name)} for n in notebooks]

    monkeypatch.setattr(runner, "run_notebooks", fake_run)
    assert main(["run", "--target", "aws", "--region", "eu-west-1", "--yes", "--to", "01", "--output", str(tmp_path)]) == 0
    assert seen == {"target": "aws", "region": "eu-west-1", "confirm": True}
    assert capsys.readouterr().out.startswith("Target: AWS account 123456789012")


def test_only_operations_that_create_are_gated():
    assert all(safety.is_creating(op) for op in ("CreateBucket", "CreateTable", "CreateRole", "CreateFunction",
                                                   "PublishLayerVersion", "CreateDistributionWithTags", "CreateRestApi"))
    assert not any(safety.is_creating(op) for op in ("PutObject", "CreateMultipartUpload", "DeleteBucket",
                                                       "UpdateDistribution", "GetCallerIdentity", "AddPermission"))


# --------------------------------------------------------------------------- plan and teardown by tags


def test_plan_lists_names_and_costs_and_creates_nothing(mocked_aws, capsys):
    assert main(["plan", "--target", "aws", "--region", "eu-west-1"]) == 0
    out = capsys.readouterr().out
    assert "account: 123456789012" in out and "raw-image-bucket-123456789012-eu-west-1" in out
    assert "a few cents for the tutorial if torn down the same day" in out and "Nothing was created." in out
    assert "$3.50 per million" in out and "$0.085 per GB" in out
    assert _bucket_names() == []


def test_teardown_on_aws_finds_tagged_resources_by_their_tags_and_keeps_other_runs(mocked_aws):
    settings = aws.resolve(Settings.from_env(target="aws", region="eu-west-1", confirm=True))
    buckets.create_buckets(settings)
    renamed = settings.with_(raw_bucket="renamed-raw-bucket-of-this-run")  # e.g. WALKTHROUGH_RAW_BUCKET in one session
    buckets.create_buckets(renamed)
    other_run = settings.with_(raw_bucket="raw-of-another-run", processed_bucket="processed-of-another-run", run_name="other")
    buckets.create_buckets(other_run)
    found = {t.name for t in teardown.discover(settings) if t.kind == "bucket"}
    assert found == {settings.raw_bucket, settings.processed_bucket, "renamed-raw-bucket-of-this-run"}
    rows = {r["resource"]: r["result"] for r in teardown.teardown(settings)}
    assert rows["S3 bucket renamed-raw-bucket-of-this-run"] == "deleted"
    assert teardown.remaining(settings) == []
    assert sorted(_bucket_names()) == ["processed-of-another-run", "raw-of-another-run"]


def test_down_on_aws_says_what_it_removed(mocked_aws, capsys):
    settings = aws.resolve(Settings.from_env(target="aws", region="eu-west-1", confirm=True))
    buckets.create_buckets(settings)
    table.create_table(settings)
    assert main(["down", "--target", "aws", "--region", "eu-west-1"]) == 0
    out = capsys.readouterr().out
    assert "Target: AWS account 123456789012" in out
    assert f"removed     S3 bucket {settings.raw_bucket}" in out and "removed     DynamoDB table ImageMetadata" in out
    assert "Everything the walkthrough created is gone." in out
    assert _bucket_names() == []
