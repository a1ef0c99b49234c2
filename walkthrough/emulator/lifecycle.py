"""Start, find, stop the emulator: one background process per port, shared by every kernel.

The process outlives the notebook kernels and the command that started it. A
small JSON state file per port records its pid, endpoint and log file; a lock
file makes two kernels starting at once share one emulator; a state file left
by a crashed run is recognised (its pid is gone or answers as something else)
and cleaned up.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from walkthrough.emulator import credentials
from walkthrough.errors import WalkthroughError

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


@dataclass
class EmulatorInfo:
    """What ``status`` shows and what the state file holds."""

    pid: int
    port: int
    endpoint: str
    log_file: str
    started_at: float
    reused: bool = False

    def export_lines(self, region: str = "us-east-1") -> list[str]:
        """Shell lines that point the AWS CLI and SDKs at this emulator, with its own key."""
        lines = [f"export AWS_ENDPOINT_URL={self.endpoint}"]
        lines += [f"export {name}={value}" for name, value in keys(self.port).environment().items()]
        lines += [f"export AWS_DEFAULT_REGION={region}", f"export AWS_REGION={region}", "unset AWS_PROFILE AWS_SESSION_TOKEN"]
        return lines


def state_dir() -> Path:
    """Where state and log files live (``WALKTHROUGH_STATE_DIR``, else the user cache)."""
    base = os.environ.get("WALKTHROUGH_STATE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "walkthrough"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _state_file(port: int) -> Path:
    return state_dir() / f"emulator-{port}.json"


def log_file(port: int) -> Path:
    return state_dir() / f"emulator-{port}.log"


def keys_file(port: int) -> Path:
    """The emulator's key file for ``port`` (mode 0600; see ``credentials.py``)."""
    return credentials.keys_file(state_dir(), port)


def keys(port: int) -> credentials.Keys:
    """The key the emulator on ``port`` accepts, read from its state folder."""
    found = credentials.read_keys(keys_file(port))
    if found is None:
        raise WalkthroughError(
            f"No key for an emulator on port {port} in {state_dir()}: start it with `python -m walkthrough emulator start"
            f" --port {port}` (with the same WALKTHROUGH_STATE_DIR), or point your client at its key file."
        )
    return found


def control(port: int, path: str, method: str = "GET", data: bytes | None = None, timeout: float = 30.0) -> Any:
    """Call one of the emulator's own ``/_walkthrough/`` (or ``/moto-api/``) endpoints, signed with its key; the JSON answer."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/{path.lstrip('/')}", data=data, method=method)
    with urllib.request.urlopen(credentials.sign(request, keys(port)), timeout=timeout) as response:
        body = response.read()
    try:
        return json.loads(body) if body else None
    except ValueError:
        return body


@contextmanager
def _port_lock(port: int) -> Iterator[None]:
    with open(state_dir() / f"emulator-{port}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def health(port: int, timeout: float = 1.0) -> dict | None:
    """The emulator's health answer on ``port``, or None when nothing of ours answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_walkthrough/health", timeout=timeout) as response:
            body = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return body if body.get("service") == "walkthrough-emulator" else None


def free_port() -> int:
    """A TCP port nothing listens on now, on loopback (for a private emulator: tests, ``make notebooks``)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited; only its parent (maybe another process) has not collected it yet
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _read_state(port: int) -> EmulatorInfo | None:
    try:
        data = json.loads(_state_file(port).read_text())
        return EmulatorInfo(**{k: data[k] for k in ("pid", "port", "endpoint", "log_file", "started_at")})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def status(port: int) -> EmulatorInfo | None:
    """The running emulator on ``port``, cleaning up a stale state file on the way."""
    info = _read_state(port)
    answer = health(port)
    if info and answer and answer.get("pid") == info.pid:
        return info
    if info and not (answer and _pid_alive(info.pid)):
        _state_file(port).unlink(missing_ok=True)  # left by a crashed or killed emulator
    if answer:  # ours, started in the foreground or by another state folder
        return EmulatorInfo(answer["pid"], port, answer["endpoint"], str(log_file(port)), time.time() - answer.get("uptime_s", 0))
    return None


def start(port: int, concurrency: int | None = None, retry_delays: str | None = None, iam: str | None = None) -> EmulatorInfo:
    """Start the emulator in the background, or return the one already running on ``port``.

    ``concurrency``, ``retry_delays`` ("1,2") and ``iam`` ("strict", the
    default, "enforce", "off") override ``WALKTHROUGH_EMULATOR_CONCURRENCY``, ``…_RETRY_DELAYS`` and
    ``…_IAM`` for a new emulator; a running one keeps its settings.
    """
    with _port_lock(port):
        running = status(port)
        if running:
            running.reused = True
            return running
        if _port_in_use(port):
            raise WalkthroughError(
                f"Port {port} is in use by another program: choose another with --port or WALKTHROUGH_EMULATOR_PORT."
            )
        log_path = log_file(port)
        credentials.ensure_keys(keys_file(port))  # made before the process, so clients can read it at once
        env = dict(os.environ)
        env[credentials.KEYS_FILE_ENV] = str(keys_file(port))
        if concurrency:
            env["WALKTHROUGH_EMULATOR_CONCURRENCY"] = str(concurrency)
        if retry_delays:
            env["WALKTHROUGH_EMULATOR_RETRY_DELAYS"] = retry_delays
        if iam:
            env["WALKTHROUGH_EMULATOR_IAM"] = iam
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "walkthrough.emulator.server", "--port", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # survives the kernel or shell that started it
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            answer = health(port, timeout=0.5)
            if answer and answer.get("pid") == process.pid:
                info = EmulatorInfo(process.pid, port, answer["endpoint"], str(log_path), time.time())
                _state_file(port).write_text(json.dumps(asdict(info)))
                return info
            if process.poll() is not None:
                break
            time.sleep(0.1)
        if process.poll() is None:
            process.kill()
        raise WalkthroughError(f"The emulator did not start on port {port}; see its log: {log_path}")


def ensure_running(port: int) -> EmulatorInfo:
    """The emulator on ``port``, started on demand (what ``Settings`` uses for target 'local')."""
    return status(port) or start(port)


def stop(port: int) -> EmulatorInfo:
    """Stop the emulator on ``port`` and its Lambda workers."""
    with _port_lock(port):
        info = status(port)
        if info is None:
            raise WalkthroughError(f"No emulator is running on port {port}: nothing to stop.")
        try:
            os.killpg(info.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            os.kill(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _pid_alive(info.pid) and time.monotonic() < deadline:
            _reap(info.pid)
            time.sleep(0.05)
        if _pid_alive(info.pid):
            os.killpg(info.pid, signal.SIGKILL)
            _reap(info.pid)
        _state_file(port).unlink(missing_ok=True)
        return info


def _reap(pid: int) -> None:
    """Collect the exit status when we are the parent (tests start it in-process)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
