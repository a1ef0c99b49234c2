"""Start, reuse, stop, stale state and port conflicts, through the CLI as a user types it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port

CLI = [sys.executable, "-m", "walkthrough"]


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def state_file(port: int) -> Path:
    return Path(os.environ["WALKTHROUGH_STATE_DIR"]) / f"emulator-{port}.json"


@pytest.fixture
def port():
    port = free_port()
    yield port
    cli("emulator", "stop", "--port", str(port))


def test_start_reuse_status_stop(port):
    first = cli("emulator", "start", "--port", str(port))
    assert first.returncode == 0, first.stderr
    assert "started at http://127.0.0.1:" in first.stdout
    pid = json.loads(state_file(port).read_text())["pid"]

    again = cli("emulator", "start", "--port", str(port))
    assert again.returncode == 0 and "already running" in again.stdout and f"pid {pid}" in again.stdout

    status = cli("emulator", "status", "--port", str(port), "--json")
    info = json.loads(status.stdout)
    assert info["running"] and info["pid"] == pid and Path(info["log_file"]).exists()
    assert "listening on" in Path(info["log_file"]).read_text()

    stopped = cli("emulator", "stop", "--port", str(port))
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not state_file(port).exists()
    assert cli("emulator", "status", "--port", str(port)).returncode != 0


def test_stop_when_not_running_is_one_line_and_nonzero(port):
    result = cli("emulator", "stop", "--port", str(port))
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "No emulator is running" in result.stderr


def test_stale_state_file_is_detected_and_cleaned(port):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state_file(port).write_text(json.dumps({"pid": dead.pid, "port": port, "endpoint": f"http://127.0.0.1:{port}", "log_file": "x", "started_at": 0}))
    assert cli("emulator", "status", "--port", str(port)).returncode != 0
    assert not state_file(port).exists()
    state_file(port).write_text(json.dumps({"pid": dead.pid, "port": port, "endpoint": "x", "log_file": "x", "started_at": 0}))
    started = cli("emulator", "start", "--port", str(port))
    assert started.returncode == 0 and "started at" in started.stdout


def test_port_in_use_is_a_one_line_error_that_loses_nothing(port):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = cli("emulator", "start", "--port", str(port))
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert f"Port {port} is in use" in result.stderr and "--port" in result.stderr
    assert not state_file(port).exists()


def test_bad_arguments_are_one_line_errors():
    for args in (["emulator", "start", "--port", "70000"], ["emulator", "explode"], ["nonsense"], ["emulator", "start", "--port", "abc"]):
        result = cli(*args)
        assert result.returncode != 0, args
        assert result.stderr.strip() and result.stderr.strip().count("\n") == 0, (args, result.stderr)


def test_env_lines_let_the_aws_cli_list_the_emulators_buckets(emulator):
    emulator.client("s3").create_bucket(Bucket="bucket-seen-by-the-aws-cli")
    env = cli("emulator", "env", "--port", str(emulator.port))
    assert env.returncode == 0
    script = env.stdout + "\naws s3 ls\n"
    aws_bin = str(Path(sys.executable).parent)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    listed = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120,
                            env={**clean, "PATH": aws_bin + os.pathsep + os.environ["PATH"], "AWS_PROFILE": "someone-real"})
    assert listed.returncode == 0, listed.stderr
    assert "bucket-seen-by-the-aws-cli" in listed.stdout


def test_demo_shows_a_function_running_on_an_upload(emulator):
    result = cli("demo", "--port", str(emulator.port))
    assert result.returncode == 0, result.stderr
    assert "The upload triggered the function" in result.stdout
    assert "START RequestId" in result.stdout and "REPORT RequestId" in result.stdout
    assert '"received": "hello ' in result.stdout


def test_unreachable_endpoint_is_a_one_line_error():
    result = cli("demo", env={"WALKTHROUGH_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "Cannot reach http://127.0.0.1:9" in result.stderr and "emulator start" in result.stderr


def test_demo_waits_for_a_log_group_that_appears_after_the_functions_output():
    """Lambda ships a function's log after the invocation: its output can be there first (seen on a loaded machine)."""
    import boto3
    from botocore.stub import Stubber

    from walkthrough import demo

    logs = boto3.client("logs", region_name="us-east-1")
    lines = ["START RequestId: r", '{"key": "hello.txt"}', "END RequestId: r", "REPORT RequestId: r"]
    with Stubber(logs) as stub:
        stub.add_client_error("filter_log_events", "ResourceNotFoundException", "The specified log group does not exist.")
        stub.add_response("filter_log_events", {"events": [{"message": line} for line in lines]})
        assert demo._latest_log(logs, "/aws/lambda/demo", "hello.txt") == lines
