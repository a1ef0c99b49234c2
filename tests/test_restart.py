"""After the emulator restarts (its state lives in memory), a missing resource is one line that says what to do."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import nbformat
import pytest
from botocore.exceptions import ClientError

from tests.conftest import free_port
from walkthrough import Settings, aws, buckets, runner
from walkthrough.emulator import lifecycle
from walkthrough.diagnose import explain
from walkthrough.errors import WalkthroughError

pytestmark = [pytest.mark.emulator, pytest.mark.slow]


@pytest.fixture
def port(monkeypatch):
    port = free_port()
    monkeypatch.setattr(aws, "_FIRST_EMULATOR", {})  # what this test process has seen, from scratch
    monkeypatch.setattr(aws, "_ANSWERED", {})
    lifecycle.start(port)
    yield port
    if lifecycle.status(port):
        lifecycle.stop(port)


def _settings(port: int) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    return Settings.from_env(emulator_port=port).with_(raw_bucket=f"raw-{suffix}", processed_bucket=f"processed-{suffix}")


def test_a_step_after_a_restart_explains_itself_in_one_line(port):
    settings = _settings(port)
    buckets.create_buckets(settings)
    lifecycle.stop(port)
    lifecycle.start(port)
    with pytest.raises(ClientError) as lost:
        buckets.describe_buckets(settings)  # step 1's check, on an emulator that forgot the buckets
    friendly = explain(lost.value)
    assert isinstance(friendly, WalkthroughError)
    assert str(friendly) == (
        f"The emulator has no bucket '{settings.raw_bucket}': its state lives in memory and was lost when it stopped "
        "or restarted. Run the notebooks again from 00_setup (or `python -m walkthrough run`)."
    )
    buckets.create_buckets(settings)  # running the steps again works at once, in the same process
    assert [row["bucket"] for row in buckets.describe_buckets(settings)] == buckets.bucket_names(settings)


def test_without_a_restart_the_message_does_not_claim_one(emulator, monkeypatch):
    monkeypatch.setattr(aws, "_FIRST_EMULATOR", {})
    monkeypatch.setattr(aws, "_ANSWERED", {})
    settings = _settings(emulator.port)
    buckets.create_buckets(settings)
    for name in buckets.bucket_names(settings):
        aws.client(settings, "s3").delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as lost:
        buckets.describe_buckets(settings)
    message = str(explain(lost.value))
    assert message.startswith(f"The emulator has no bucket '{settings.raw_bucket}': it was deleted") and "\n" not in message
    assert message.endswith("Run the notebooks again from 00_setup (or `python -m walkthrough run`).")


def test_on_aws_a_missing_bucket_is_not_explained_as_the_emulators(monkeypatch):
    monkeypatch.setattr(aws, "_FIRST_EMULATOR", {})
    monkeypatch.setattr(aws, "_ANSWERED", {})
    error = ClientError({"Error": {"Code": "NoSuchBucket", "Message": "The specified bucket does not exist", "BucketName": "b"}}, "PutObject")
    assert explain(error) is None


def test_a_notebook_run_after_a_restart_stops_with_that_one_line(port, tmp_path, monkeypatch):
    """What `python -m walkthrough run` prints when a notebook meets the lost state mid-way."""
    monkeypatch.setenv("WALKTHROUGH_EMULATOR_PORT", str(port))
    settings = _settings(port)
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in (
        "from walkthrough import Settings, buckets, show\nfrom walkthrough.emulator import lifecycle\nshow.friendly_errors()",
        f"settings = Settings.from_env().with_(raw_bucket={settings.raw_bucket!r}, processed_bucket={settings.processed_bucket!r})\n"
        "buckets.create_buckets(settings)",
        f"lifecycle.stop({port}); lifecycle.start({port})  # the emulator restarts: its state is gone",
        "buckets.describe_buckets(settings)",
    )]
    path = tmp_path / "50_restart.ipynb"
    nbformat.write(notebook, path)
    with pytest.raises(WalkthroughError) as stopped:
        runner.run_notebooks([path], {}, tmp_path / "out", progress=False)
    message = str(stopped.value)
    assert "\n" not in message
    assert message.startswith("50_restart, cell ") and f"WalkthroughError: The emulator has no bucket '{settings.raw_bucket}'" in message
    assert "Run the notebooks again from 00_setup (or `python -m walkthrough run`)." in message


def test_cli_run_from_a_later_notebook_after_a_restart_rebuilds_what_it_needs(port, tmp_path):
    buckets.create_buckets(_settings(port))
    lifecycle.stop(port)
    lifecycle.start(port)
    env = {**os.environ, "WALKTHROUGH_EMULATOR_PORT": str(port)}
    again = subprocess.run([sys.executable, "-m", "walkthrough", "run", "--from", "02", "--to", "02", "--output", str(tmp_path)],
                           capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr  # each notebook first ensures the steps before it (here: the buckets)
    assert "02_dynamodb_table" in again.stdout


def test_a_table_dynamodb_no_longer_has_is_recognised_by_the_operation():
    """DynamoDB's not-found answer names no table on a query: the operation says it was one (not a crash)."""
    from walkthrough import diagnose

    gone = ClientError({"Error": {"Code": "ResourceNotFoundException",
                                  "Message": "Cannot do operations on a non-existent table"}}, "Query")
    assert diagnose.missing_resource(gone) == ("table", None)
    other = ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "No such thing"}}, "GetRestApi")
    assert diagnose.missing_resource(other) is None
