"""Small helpers for tests that talk to the emulator: ports, clients, zips, waiting."""

from __future__ import annotations

import io
import json
import os
import time
import zlib
import uuid
import zipfile
from dataclasses import dataclass
from typing import Any, Callable

import boto3

def free_port() -> int:
    """A free loopback port that no other pytest-xdist worker of this run can be given.

    Worker ``gwN`` of ``M`` only takes ports whose hash is ``N`` modulo ``M``
    (not the port itself: Linux hands out only odd ports for ``bind(0)``), so
    two workers never start emulators on one port. (A port is free when asked; the
    emulator binds it a second later: ``start_emulator`` covers programs
    outside this run that take it meanwhile.)
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    from walkthrough.emulator import lifecycle

    for _ in range(2000):
        port = lifecycle.free_port()
        if zlib.crc32(b"%d" % port) % count == index % count:
            return port
    raise RuntimeError("no free loopback port")


def start_emulator(**options: Any) -> Any:
    """A new emulator of this process's own (port from ``free_port``, state in ``WALKTHROUGH_STATE_DIR``).

    ``lifecycle.start`` reuses an emulator that already answers on the port;
    here that can only be someone else's (another checkout's test run took the
    port between our probe and the start), so take another port instead.
    """
    from walkthrough.emulator import lifecycle
    from walkthrough.errors import WalkthroughError

    for attempt in range(5):
        port = free_port()
        try:
            info = lifecycle.start(port, **options)
        except WalkthroughError:  # the port was taken meanwhile
            if attempt == 4:
                raise
            continue
        if not info.reused:
            return info
    raise RuntimeError("could not start an emulator of our own")


def reset(endpoint: str) -> None:
    """Empty an emulator (moto's state and the emulator's own), as if it had just started (signed: it needs the key)."""
    from walkthrough.emulator import lifecycle

    lifecycle.control(int(endpoint.rsplit(":", 1)[1].strip("/")), "moto-api/reset", "POST", timeout=10)


TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
})


TEST_FUNCTION_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:*", "dynamodb:*", "logs:*", "sqs:*", "sns:*", "lambda:*"], "Resource": "*"}],
})


def zip_files(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@dataclass
class EmulatorHandle:
    endpoint: str
    port: int

    @property
    def keys(self) -> Any:
        """The emulator's own key (from its state folder)."""
        from walkthrough.emulator import lifecycle

        return lifecycle.keys(self.port)

    def client(self, service: str, region: str = "us-east-1") -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=region, **self.keys.boto3_kwargs())

    def control(self, path: str, method: str = "GET", data: bytes | None = None, timeout: float = 30.0) -> Any:
        """One of the emulator's own endpoints (``_walkthrough/faults`` ...), signed with its key; the JSON answer."""
        from walkthrough.emulator import lifecycle

        return lifecycle.control(self.port, path, method, data, timeout)

    def health(self) -> dict[str, Any]:
        """The emulator's status (runtimes, sandbox, counters)."""
        from walkthrough.emulator import lifecycle

        return lifecycle.health(self.port, timeout=10) or {}

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Until every queued asynchronous invocation has finished."""
        assert self.control(f"_walkthrough/idle?timeout={timeout}", timeout=timeout + 5)["idle"], "asynchronous invocations still pending"

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:8]}"

    def role(self) -> str:
        """A role for test functions: broad rights on what they touch (the emulator enforces roles as AWS does)."""
        iam = self.client("iam")
        name = self.unique("role")
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName="test-function", PolicyDocument=TEST_FUNCTION_POLICY)
        return arn

    def deploy(self, source: str, region: str = "us-east-1", name: str | None = None, **config: Any) -> str:
        """Create a function from one source file; returns its name."""
        lam = self.client("lambda", region)
        name = name or self.unique("fn")
        lam.create_function(
            FunctionName=name, Runtime="python3.12", Role=self.role(), Handler="lambda_function.lambda_handler",
            Code={"ZipFile": zip_files({"lambda_function.py": source})}, **{"Timeout": 10, **config},
        )
        return name

    def invoke(self, name: str, event: Any = None, region: str = "us-east-1") -> tuple[Any, str | None]:
        response = self.client("lambda", region).invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
        return json.loads(response["Payload"].read() or b"null"), response.get("FunctionError")

    def log_messages(self, name: str, region: str = "us-east-1") -> list[str]:
        logs = self.client("logs", region)
        return [e["message"] for e in logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]]


def eventually(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last value: {value!r})")


def unique_settings(endpoint: str, region: str) -> Any:
    """Settings on the session emulator whose resource names no other test uses."""
    from walkthrough import Settings

    suffix = uuid.uuid4().hex[:8]
    return Settings.from_env(endpoint_url=endpoint, region=region).with_(
        raw_bucket=f"raw-{suffix}", processed_bucket=f"processed-{suffix}", table_name=f"Meta{suffix}",
        role_name=f"Role{suffix}", function_name=f"Fn{suffix}",
    )


def aws_cli(port: int) -> Callable[..., dict[str, Any]]:
    """``aws …`` with the environment ``eval "$(python -m walkthrough emulator env)"`` gives a shell.

    Returns the command's JSON answer (``{"text": …}`` for text, ``{"error": …}`` with ``check=False`` on failure).
    The commands run in this process, through awscli's own driver (what the ``aws`` script calls), in
    that environment alone: a new interpreter per command imported botocore and awscli again, 0.5 s
    of CPU each, 34 times a run. The ``aws`` program itself, from a shell, is tested in
    tests/test_emulator_trust.py and tests/test_emulator_lifecycle.py.
    """
    import shlex
    import subprocess
    import sys

    exports = subprocess.run([sys.executable, "-m", "walkthrough", "emulator", "env", "--port", str(port)],
                             capture_output=True, text=True, check=True).stdout
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    for line in exports.splitlines():
        words = shlex.split(line)
        if words and words[0] == "export":
            name, _, value = words[1].partition("=")
            env[name] = value

    def run(*args: str, check: bool = True, cwd: str | None = None) -> dict[str, Any]:
        returncode, stdout, stderr = _awscli([*args, "--output", "json"], env, cwd)
        if returncode != 0:
            if check:
                raise AssertionError(f"aws {' '.join(args)} failed: {stderr.strip()}")
            return {"error": stderr.strip(), "text": stdout}
        try:
            return json.loads(stdout) if stdout.strip() else {}
        except ValueError:  # `aws s3 …` and `cloudformation deploy` print lines of text
            return {"text": stdout}

    return run


def _awscli(argv: list[str], env: dict[str, str], cwd: str | None) -> tuple[int, str, str]:
    """awscli's driver on ``argv`` with exactly ``env`` as the environment and ``cwd`` as the folder: (status, stdout, stderr)."""
    import contextlib
    from unittest import mock

    import awscli
    from awscli.clidriver import create_clidriver

    # what importing awscli puts in a new `aws` process's environment: where its own data files are
    own_data = {"AWS_DATA_PATH": os.path.join(os.path.dirname(awscli.__file__), "data")}
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, {**env, **own_data}, clear=True), contextlib.chdir(cwd or os.getcwd()), \
            contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        returncode = create_clidriver().main(argv)
    return returncode, out.getvalue(), err.getvalue()
