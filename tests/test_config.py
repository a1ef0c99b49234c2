"""Settings and clients: the target decides credentials and endpoint, and local never touches a real account."""

from __future__ import annotations

import pytest

from walkthrough import aws
from walkthrough.config import Settings
from walkthrough.errors import WalkthroughError

REAL_LOOKING = {
    "AWS_ACCESS_KEY_ID": "AKIAREALKEY000000000",
    "AWS_SECRET_ACCESS_KEY": "real-secret",
    "AWS_SESSION_TOKEN": "real-token",
    "AWS_PROFILE": "production",
    "AWS_ENDPOINT_URL": "https://s3.real.example",
}


def test_defaults_follow_the_document():
    settings = Settings.from_env({})
    assert settings.target == "local" and settings.region == "us-east-1"
    assert (settings.raw_bucket, settings.processed_bucket) == ("raw-image-bucket", "processed-image-bucket")
    assert (settings.table_name, settings.role_name, settings.function_name) == ("ImageMetadata", "LambdaImageProcessingRole", "ImageProcessingFunction")


def test_parameters_override_environment():
    env = {"WALKTHROUGH_TARGET": "aws", "WALKTHROUGH_REGION": "eu-west-1"}
    assert Settings.from_env(env).target == "aws"
    settings = Settings.from_env(env, target="local", region="ap-southeast-2", raw_bucket=None)
    assert (settings.target, settings.region, settings.raw_bucket) == ("local", "ap-southeast-2", "raw-image-bucket")


def test_aws_target_takes_the_region_from_the_standard_variables():
    assert Settings.from_env({"WALKTHROUGH_TARGET": "aws", "AWS_DEFAULT_REGION": "eu-central-1"}).region == "eu-central-1"
    assert Settings.from_env({"AWS_DEFAULT_REGION": "eu-central-1"}).region == "us-east-1"  # local ignores it


@pytest.mark.parametrize("target", ["gcp", "prod", "AWS-ish"])
def test_unknown_target_is_a_one_line_error_naming_the_choices(target):
    with pytest.raises(WalkthroughError) as error:
        Settings.from_env({}, target=target)
    message = str(error.value)
    assert "\n" not in message and "'local'" in message and "'aws'" in message


def test_bad_port_is_a_clear_error():
    with pytest.raises(WalkthroughError, match="not a number"):
        Settings.from_env({"WALKTHROUGH_EMULATOR_PORT": "eighty"})


def test_local_clients_ignore_real_credentials_profile_and_endpoint(monkeypatch):
    for name, value in REAL_LOOKING.items():
        monkeypatch.setenv(name, value)
    settings = Settings(target="local", endpoint_url="http://127.0.0.1:4999")
    credentials = aws.session(settings).get_credentials()
    assert credentials.access_key == "testing" and credentials.token is None
    s3 = aws.client(settings, "s3")
    assert s3.meta.endpoint_url == "http://127.0.0.1:4999"
    assert s3.meta.region_name == "us-east-1"


def test_aws_clients_use_the_standard_chain_and_the_users_endpoint(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMTHECHAIN")
    settings = Settings.from_env(target="aws", region="eu-west-1")
    assert aws.session(settings).get_credentials().access_key == "AKIAFROMTHECHAIN"
    assert aws.client(settings, "s3").meta.endpoint_url == "http://127.0.0.1:9"  # the AWS_ENDPOINT_URL tests force


def test_local_clients_reach_the_session_emulator(emulator):
    settings = Settings.from_env(endpoint_url=emulator.endpoint)
    s3 = aws.client(settings, "s3")
    s3.create_bucket(Bucket="settings-made-this")
    assert "settings-made-this" in [b["Name"] for b in emulator.client("s3").list_buckets()["Buckets"]]
