"""Test configuration: no test can reach real AWS.

Fake credentials and a dead loopback endpoint are forced before anything
imports boto3, the user's profiles and config files are hidden, and the
emulator's state files go to a temporary folder. Tests that need AWS use
either the session's own emulator (on a free port, beside any emulator the
user runs) or moto's in-process ``mock_aws`` via the ``mocked_aws`` fixture.

Under pytest-xdist (``make test``) every worker is a process of its own that
imports this file: its own state folder, its own emulators, on ports no other
worker is given (``emulator_helpers.free_port``).
"""

from __future__ import annotations

import os
import tempfile

_FORCED = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # discard port: a stray client fails fast, on loopback
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
    "WALKTHROUGH_TARGET": "local",
    "WALKTHROUGH_STATE_DIR": tempfile.mkdtemp(prefix="walkthrough-test-state-"),
}
os.environ.update(_FORCED)
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "WALKTHROUGH_ENDPOINT_URL", "WALKTHROUGH_REGION", "WALKTHROUGH_EMULATOR_PORT"):
    os.environ.pop(_name, None)

import botocore.session  # noqa: E402
import pytest  # noqa: E402

from tests.emulator_helpers import EmulatorHandle, free_port, start_emulator  # noqa: E402
from walkthrough.botocore_data import shared_loader  # noqa: E402

# moto's mock_aws gives each test a new default boto3 session, and each new botocore session
# parses endpoints.json and every service model it uses again: half the CPU of the tests that run
# in the pytest processes (53 s of 109 s in a profile of `make test-quick`). One loader per
# process, as the walkthrough's own sessions have, parses each once.
botocore.session.create_loader = shared_loader

__all__ = ["free_port"]  # tests import it from here

_MANAGED_POLICIES = "MOTO_IAM_LOAD_MANAGED_POLICIES"


@pytest.fixture(autouse=True)
def _in_process_moto_loads_no_managed_policies():
    """Importing ``walkthrough.emulator.moto_internals`` (collection does) sets ``MOTO_IAM_LOAD_MANAGED_POLICIES``.

    The emulator's server sets it for itself; left in this process it makes every
    in-process ``mock_aws`` load AWS's ~1,300 managed policies at each start and
    reset (seconds per test, and a heap that slows every garbage collection).
    A test that needs them asks for ``mocked_aws_with_managed_policies``.
    """
    os.environ.pop(_MANAGED_POLICIES, None)
    yield


@pytest.fixture(scope="session")
def emulator() -> EmulatorHandle:
    """One emulator for the session (per xdist worker), started in the background like a user's, stopped at the end."""
    from walkthrough.emulator import lifecycle

    info = start_emulator()
    handle = EmulatorHandle(info.endpoint, info.port)
    yield handle
    lifecycle.stop(info.port)


@pytest.fixture(scope="session")
def fresh_emulator():
    """An emulator for tests that start from an empty one: each resets it first (``emulator_helpers.reset``).

    One per xdist worker, shared by the notebook runs (tests/test_notebook_sequence.py,
    tests/test_aws_sequence.py), so that a worker starts it once, not once per module.
    """
    from walkthrough.emulator import lifecycle

    info = start_emulator()
    yield info
    lifecycle.stop(info.port)


@pytest.fixture
def mocked_aws(monkeypatch: pytest.MonkeyPatch):
    """moto's in-process mock; the loopback endpoint is lifted only inside it (nothing leaves the process)."""
    from moto import mock_aws

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def mocked_aws_with_managed_policies(monkeypatch: pytest.MonkeyPatch):
    """``mocked_aws`` with AWS's managed policies (``AmazonS3ReadOnlyAccess`` …), for a test that attaches one."""
    from moto import mock_aws

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
        yield
