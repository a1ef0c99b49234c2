"""A Lambda runtime without Docker: the deployed zip and its layers run in worker processes.

Each ``Worker`` is one execution environment: the function's code and layers
unpacked into a folder, a Python process started with the Lambda environment
variables, kept warm between invocations of the same code and configuration
and replaced when either changes. The parent enforces the timeout, watches the
memory, and writes the platform's records to CloudWatch Logs as Lambda does:
START/END/REPORT lines with the Text log format, ``platform.start`` and
``platform.report`` JSON objects with the JSON format, whose application and
system log levels it applies (``LoggingConfig``).
Nothing here knows about moto: ``moto_hooks`` turns moto's functions into a
``FunctionSpec`` and ``FunctionCode``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Protocol

from walkthrough.emulator import interpreters, sandbox

log = logging.getLogger("walkthrough.emulator.runtime")

BOOTSTRAP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap.py")
MARKER = "\x1e__walkthrough_end__ "
INIT_TIMEOUT_S = 10.0  # Lambda's init phase limit for on-demand functions
MEMORY_POLL_S = 0.01
LOG_TAIL_BYTES = 4096  # what Invoke's LogType=Tail returns


#: Lambda's log levels, most detailed first (application: TRACE..FATAL; system: DEBUG, INFO, WARN).
LOG_LEVELS = {"TRACE": 5, "DEBUG": 10, "INFO": 20, "WARN": 30, "WARNING": 30, "ERROR": 40, "FATAL": 50, "CRITICAL": 50}


@dataclass(frozen=True)
class LoggingConfig:
    """A function's ``LoggingConfig``, as the Lambda API describes it (``LogFormat`` Text or JSON).

    Levels apply to JSON only, as on Lambda: the application level (default
    INFO) is passed to the runtime as ``AWS_LAMBDA_LOG_LEVEL`` and also filters
    what the function prints; the system level (default INFO) filters the
    platform's records (``platform.start`` and ``platform.report`` are INFO).
    """

    log_format: str = "Text"
    application_log_level: str | None = None
    system_log_level: str | None = None
    log_group: str | None = None

    @classmethod
    def from_api(cls, config: Mapping[str, Any] | None) -> LoggingConfig:
        """From the API's shape (``{"LogFormat": "JSON", "ApplicationLogLevel": ...}``), with Lambda's defaults."""
        config = config or {}
        group = config.get("LogGroup") or None
        if str(config.get("LogFormat") or "Text").upper() != "JSON":
            return cls("Text", None, None, group)
        return cls(
            "JSON",
            str(config.get("ApplicationLogLevel") or "INFO").upper(),
            str(config.get("SystemLogLevel") or "INFO").upper(),
            group,
        )

    @property
    def is_json(self) -> bool:
        return self.log_format == "JSON"

    def environment(self) -> dict[str, str]:
        """What Lambda tells the runtime about the format (awslambdaric reads both variables)."""
        if not self.is_json:
            return {}
        return {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": self.application_log_level or "INFO"}

    def shows_system(self, level: str) -> bool:
        """Whether a platform record of ``level`` is delivered (always, with Text)."""
        return not self.is_json or LOG_LEVELS[level] >= LOG_LEVELS.get(self.system_log_level or "INFO", 20)

    def shows_application(self, line: str) -> bool:
        """Whether a line the function wrote is delivered: JSON format filters by its ``level`` (INFO without one)."""
        if not self.is_json:
            return True
        level = "INFO"
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if isinstance(record, dict):
                level = str(record.get("level") or record.get("log_level") or "INFO").upper()
        return LOG_LEVELS.get(level, 20) >= LOG_LEVELS.get(self.application_log_level or "INFO", 20)


@dataclass(frozen=True)
class FunctionSpec:
    """Everything that identifies one version of a function's execution environment.

    Two invocations with equal specs may share a warm worker; any change (code,
    handler, memory, environment, layers, role) needs a fresh one.
    """

    name: str
    arn: str
    version: str
    handler: str
    runtime: str
    timeout_s: int
    memory_mb: int
    environment: tuple[tuple[str, str], ...]
    role: str
    code_sha256: str
    layer_arns: tuple[str, ...]
    region: str
    account_id: str
    logging_config: LoggingConfig = LoggingConfig()
    ephemeral_storage_mb: int = 512  # the size of /tmp

    @property
    def log_group(self) -> str:
        return self.logging_config.log_group or f"/aws/lambda/{self.name}"


@dataclass
class FunctionCode:
    """The bytes a worker needs: the function's zip and its layers' zips, in order."""

    code_zip: bytes
    layer_zips: list[bytes] = field(default_factory=list)


@dataclass
class InvocationResult:
    """What one invocation produced, in the shapes the Invoke API and the log need."""

    request_id: str
    ok: bool
    payload: bytes
    log_lines: list[str]
    duration_ms: float
    init_ms: float | None
    max_memory_mb: int
    error_type: str | None = None

    @property
    def error(self) -> dict[str, Any] | None:
        return None if self.ok else json.loads(self.payload)

    @property
    def log_tail_b64(self) -> str:
        text = "".join(line + "\n" for line in self.log_lines).encode()
        return base64.b64encode(text[-LOG_TAIL_BYTES:]).decode()


class LogSink(Protocol):
    """Where execution environments write their log streams (CloudWatch Logs)."""

    def write(self, group: str, stream: str, lines: list[str]) -> None: ...


#: The one thread that starts workers. bubblewrap's --die-with-parent kills the sandbox when the *thread* that
#: started it ends (PR_SET_PDEATHSIG), and requests are served on short-lived threads.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lambda-spawner")


def _spawn(argv: list[str], env: dict[str, str], cwd: str, control_fd: int) -> subprocess.Popen[bytes]:
    return _SPAWNER.submit(
        subprocess.Popen, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=env, cwd=cwd, pass_fds=(control_fd,),
    ).result()


def _read_only(folder: str) -> None:
    """Without a sandbox, the code folder at least is not writable (except by root, which ignores modes)."""
    for root, dirs, files in os.walk(folder):
        for name in files:
            os.chmod(os.path.join(root, name), 0o444)
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o555)
    os.chmod(folder, 0o555)


def _unzip(data: bytes, target: str) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(target)


def _timestamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def trace_id(depth: int) -> str:
    """An X-Ray trace header whose ``Lineage`` carries the recursion depth.

    botocore copies ``_X_AMZN_TRACE_ID`` into every request a function makes,
    which is how the emulator (like Lambda) sees that an upload came from a
    function invoked ``depth`` times in a chain.
    """
    now = int(time.time())
    return f"Root=1-{now:08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0;Lineage=1a2b3c4d:{depth}"


class Worker:
    """One execution environment: a warm Python process running one function version."""

    def __init__(
        self, spec: FunctionSpec, code: FunctionCode, endpoint: str, credentials: dict[str, str], opt_root: str | None = None
    ) -> None:
        """``opt_root``: an already unpacked ``/opt`` (the pool's cache of a single layer) instead of unpacking the layers here."""
        self.spec = spec
        self.folder = tempfile.mkdtemp(prefix=f"lambda-{spec.name}-")
        task_root = os.path.join(self.folder, "task")
        _unzip(code.code_zip, task_root)
        if opt_root is None:
            opt_root = os.path.join(self.folder, "opt")
            os.makedirs(opt_root, exist_ok=True)
            for layer in code.layer_zips:  # later layers override earlier ones, as on Lambda
                _unzip(layer, opt_root)
        now = datetime.now(timezone.utc)
        self.log_stream = f"{now:%Y/%m/%d}/[{spec.version}]{uuid.uuid4().hex}"
        self.interpreter = interpreters.for_runtime(spec.runtime)
        runtime_dir = sandbox.runtime_folder(self.interpreter, BOOTSTRAP)
        sandboxed = sandbox.bubblewrap() is not None
        #: What this environment's log says once, at its cold start, where it cannot be what Lambda builds.
        self.notices = [n for n in (self.interpreter.warning, sandbox.fallback_reason()) if n]
        if sandboxed:
            paths = {"task": sandbox.TASK_ROOT, "opt": sandbox.OPT_ROOT, "runtime": sandbox.RUNTIME_DIR, "lang": sandbox.LANG_ROOT}
        else:
            _read_only(task_root)
            tmp = os.path.join(self.folder, "tmp")
            os.makedirs(tmp)
            paths = {"task": task_root, "opt": opt_root, "runtime": runtime_dir, "lang": self.interpreter.prefix, "tmp": tmp}
        control_read, control_write = os.pipe()
        env = {
            # Lambda's python3.x values (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime)
            "PATH": f"{paths['lang']}/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
            "LD_LIBRARY_PATH": (f"{paths['lang']}/lib:/lib64:/usr/lib64:{paths['runtime']}:{paths['runtime']}/lib:"
                                f"{paths['task']}:{paths['task']}/lib:/opt/lib"),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PYTHONPATH": paths["runtime"],
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            **({"TMPDIR": paths["tmp"]} if "tmp" in paths else {}),
            **dict(spec.environment),
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout_s),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
            "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "_HANDLER": spec.handler,
            "LAMBDA_TASK_ROOT": paths["task"],
            "LAMBDA_RUNTIME_DIR": paths["runtime"],
            # the emulator's own: the function's SDK calls come back to it (Lambda needs no endpoint)
            "AWS_ENDPOINT_URL": endpoint,
            **spec.logging_config.environment(),
            **credentials,
            "_WALKTHROUGH_OPT_ROOT": paths["opt"],
            "_WALKTHROUGH_CONTROL_FD": str(control_write),
        }
        if sandboxed:
            inside = sandbox.interpreter_inside(self.interpreter)
            mounts = sandbox.Mounts(task_root, opt_root, runtime_dir, self.interpreter, spec.ephemeral_storage_mb)
            argv = sandbox.command(mounts, [inside, "-I", "-S", "-u", f"{sandbox.RUNTIME_DIR}/bootstrap.py"])
        else:
            argv = [self.interpreter.path, "-I", "-S", "-u", os.path.join(runtime_dir, "bootstrap.py")]
        self.process = _spawn(argv, env, task_root, control_write)
        self.pid = self.process.pid  # the function's own process once it says so (inside bubblewrap, bwrap's child)
        os.close(control_write)
        self._control: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_control, args=(control_read,), daemon=True).start()
        threading.Thread(target=self._read_log, daemon=True).start()
        self.started = time.perf_counter()
        self.init_ms: float | None = None
        self.init_error: dict[str, Any] | None = None
        self.cold = True
        self.invocations = 0
        self._await_init()

    # -- pipes -------------------------------------------------------------
    def _read_control(self, fd: int) -> None:
        with os.fdopen(fd) as control:
            for line in control:
                self._control.put(json.loads(line))
        self._control.put(None)

    def _read_log(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self._lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self._lines.put(None)

    def _drain_log(self, until_marker: str | None, wait_s: float) -> list[str]:
        """Collect log lines: with a marker, until it arrives; without, until the pipe closes.

        Either way for at most ``wait_s`` seconds; ``wait_s=0`` takes only what
        is already there (no waiting: this runs before every invocation).
        """
        lines: list[str] = []
        deadline = time.monotonic() + wait_s
        while True:
            left = deadline - time.monotonic()
            try:
                line = self._lines.get(timeout=left) if left > 0 else self._lines.get_nowait()
            except queue.Empty:
                return lines
            if line is None:
                self._lines.put(None)
                return lines
            if line.startswith(MARKER):
                if until_marker and line[len(MARKER):] == until_marker:
                    return lines
                continue
            lines.append(line)

    def _await_init(self) -> None:
        try:
            message = self._control.get(timeout=INIT_TIMEOUT_S)
        except queue.Empty:
            message = None
            self.kill()
        if message and message.get("pid"):
            self.pid = int(message["pid"])
        if message and message["type"] == "ready":
            # Lambda's Init Duration covers starting the runtime, not just the import.
            self.init_ms = (time.perf_counter() - self.started) * 1000
            return
        self.init_error = (message or {}).get("error") or {
            "errorMessage": f"Runtime failed to start within {INIT_TIMEOUT_S:.0f} s (exit {self.process.poll()})",
            "errorType": "Runtime.ExitError",
        }
        self.init_ms = (time.perf_counter() - self.started) * 1000

    # -- lifecycle -----------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self.process.poll() is None and self.init_error is None

    def kill(self) -> None:
        if self.process.poll() is None:
            if self.pid != self.process.pid:  # bubblewrap's child dies with it too (--die-with-parent); do not wait for that
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        self.kill()
        for root, dirs, _ in os.walk(self.folder):  # the read-only code folder of a worker without a sandbox
            os.chmod(root, 0o755)
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- one invocation --------------------------------------------------------
    def invoke(self, event: Any, request_id: str, trace: str, invoked_arn: str, client_context: dict[str, Any] | None = None) -> InvocationResult:
        """Run the handler once, enforcing the timeout and the memory size."""
        spec = self.spec
        init_ms = self.init_ms if self.cold else None
        notices = self.notices if self.cold else []
        self.cold = False
        self.invocations += 1
        header = self._start_record(request_id)
        init_lines = notices + self._application(self._drain_log(None, 0))  # lines printed while importing belong before START
        if self.init_error is not None:
            return self._finish(request_id, init_lines + header, False, json.dumps(self.init_error).encode(), 0.0, init_ms, self.init_error["errorType"])

        started = time.perf_counter()
        deadline_ms = time.time() * 1000 + spec.timeout_s * 1000
        request = {"request_id": request_id, "event": event, "deadline_ms": deadline_ms, "trace_id": trace, "invoked_arn": invoked_arn,
                   "client_context": client_context}
        over_memory = threading.Event()
        done = threading.Event()
        peak = [0.0]
        threading.Thread(target=self._watch_memory, args=(done, over_memory, peak), daemon=True).start()
        try:
            assert self.process.stdin is not None
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
            message = self._control.get(timeout=spec.timeout_s)
        except queue.Empty:
            message = "timeout"
        except (BrokenPipeError, OSError):
            message = None
        finally:
            done.set()
        duration = (time.perf_counter() - started) * 1000

        if message == "timeout":
            self.kill()
            lines = self._application(self._drain_log(None, 0.2))
            text = f"{_timestamp()} {request_id} Task timed out after {duration / 1000:.2f} seconds"
            payload = {"errorMessage": text, "errorType": "Sandbox.Timedout"}
            return self._finish(request_id, init_lines + header + lines + self._text_only(text), False, json.dumps(payload).encode(), duration, init_ms, "Sandbox.Timedout", int(peak[0]))
        if not isinstance(message, dict):  # the process died: out of memory, os._exit, a crash
            self.kill()
            code = self.process.returncode
            lines = self._application(self._drain_log(None, 0.2))
            reason = "signal: killed" if code in (-signal.SIGKILL, 137) else f"exit status {code}"
            error_type = "Runtime.OutOfMemory" if over_memory.is_set() else "Runtime.ExitError"
            text = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
            payload = {"errorMessage": text, "errorType": error_type}
            return self._finish(request_id, init_lines + header + lines + self._text_only(text, error_type), False, json.dumps(payload).encode(), duration, init_ms, error_type, spec.memory_mb if over_memory.is_set() else int(peak[0]))
        lines = self._application(self._drain_log(request_id, 2.0))
        error_type = None if message["ok"] else json.loads(message["payload"]).get("errorType")
        return self._finish(
            request_id,
            init_lines + header + lines,
            bool(message["ok"]),
            message["payload"].encode(),
            message["duration_ms"],
            init_ms,
            error_type,
            max(int(message["max_memory_mb"]), int(peak[0])),
        )

    def _watch_memory(self, done: threading.Event, over: threading.Event, peak: list[float]) -> None:
        """Kill the worker when its resident memory passes the function's memory size."""
        limit = self.spec.memory_mb
        while not done.wait(MEMORY_POLL_S):
            rss = _rss_mb(self.pid)
            peak[0] = max(peak[0], rss)
            if rss > limit:
                over.set()
                self.kill()
                return

    def _finish(
        self,
        request_id: str,
        lines: list[str],
        ok: bool,
        payload: bytes,
        duration_ms: float,
        init_ms: float | None,
        error_type: str | None,
        max_memory_mb: int = 0,
    ) -> InvocationResult:
        logging_config = self.spec.logging_config
        billed = max(1, int(duration_ms + 0.999))
        if logging_config.is_json:
            # Lambda's JSON system log: one platform.report object (INFO), no END line.
            metrics: dict[str, Any] = {
                "durationMs": round(duration_ms, 3),
                "billedDurationMs": billed,
                "memorySizeMB": self.spec.memory_mb,
                "maxMemoryUsedMB": max_memory_mb,
            }
            if init_ms is not None:
                metrics["initDurationMs"] = round(init_ms, 3)
            record: dict[str, Any] = {"requestId": request_id, "metrics": metrics, "status": _status(error_type)}
            if error_type is not None:
                record["errorType"] = error_type
            platform = [_platform_record("platform.report", record)] if logging_config.shows_system("INFO") else []
            all_lines = [*lines, *platform]
            return InvocationResult(request_id, ok, payload, all_lines, duration_ms, init_ms, max_memory_mb, error_type)
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms\t"
            f"Memory Size: {self.spec.memory_mb} MB\tMax Memory Used: {max_memory_mb} MB"
        )
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        if error_type in PLATFORM_ERRORS:
            report += "\tStatus: error\tError Type: " + error_type
        all_lines = [*lines, f"END RequestId: {request_id}", report]
        return InvocationResult(request_id, ok, payload, all_lines, duration_ms, init_ms, max_memory_mb, error_type)

    # -- the platform's records, in the function's log format -----------------------
    def _start_record(self, request_id: str) -> list[str]:
        """START (Text) or platform.start (JSON, INFO), as Lambda writes it before the invocation's lines."""
        if not self.spec.logging_config.is_json:
            return [f"START RequestId: {request_id} Version: {self.spec.version}"]
        if not self.spec.logging_config.shows_system("INFO"):
            return []
        return [_platform_record("platform.start", {"requestId": request_id, "version": self.spec.version})]

    def _text_only(self, *lines: str) -> list[str]:
        """Platform lines that only the Text format has (JSON says it in platform.report's status)."""
        return [] if self.spec.logging_config.is_json else list(lines)

    def _application(self, lines: list[str]) -> list[str]:
        """The function's own lines that the application log level lets through (all, with Text)."""
        config = self.spec.logging_config
        return lines if not config.is_json else [line for line in lines if config.shows_application(line)]


#: Errors of the execution environment rather than of the function's code.
PLATFORM_ERRORS = ("Sandbox.Timedout", "Runtime.OutOfMemory", "Runtime.ExitError")


def _status(error_type: str | None) -> str:
    """platform.report's status: success, failure (the function raised), error (the runtime failed), timeout."""
    if error_type is None:
        return "success"
    if error_type == "Sandbox.Timedout":
        return "timeout"
    if error_type.startswith(("Runtime.", "Sandbox.")):
        return "error"
    return "failure"


def _platform_record(kind: str, record: dict[str, Any]) -> str:
    """One platform event in Lambda's JSON system log format: ``{"time", "type", "record"}``."""
    return json.dumps({"time": _timestamp(), "type": kind, "record": record}, separators=(",", ":"))


@dataclass
class FunctionStats:
    """How often a function ran, and how many of its invocations ran at once at most."""

    invocations: int = 0
    running: int = 0
    max_concurrent: int = 0
    errors: int = 0


class WorkerPool:
    """Warm workers per function version, created on demand, replaced when the function changes.

    ``credentials(spec)`` returns the environment variables of the function's
    execution role (called once per new worker, as Lambda gives each
    execution environment its own); ``sink(region)`` the ``LogSink`` its log
    goes to; ``may_log(spec, stream)`` whether that stream is delivered (the
    role may write it).
    """

    def __init__(
        self,
        endpoint: str,
        credentials: Callable[[FunctionSpec], Mapping[str, str]],
        sink: Callable[[str], LogSink],
        may_log: Callable[[FunctionSpec, str], bool],
    ) -> None:
        self.endpoint = endpoint
        self.credentials = credentials
        self.sink = sink
        self.may_log = may_log
        self._idle: dict[FunctionSpec, list[Worker]] = {}
        self._lock = threading.Lock()
        self.stats: dict[str, FunctionStats] = {}  # by function ARN
        self._layers: dict[str, str] = {}  # layer zip sha256 -> unpacked folder
        self._layers_root: str | None = None
        self._layers_lock = threading.Lock()
        self.running = 0
        self.max_concurrent = 0
        self.invocations = 0

    def _credentials(self, spec: FunctionSpec) -> dict[str, str]:
        return dict(self.credentials(spec))

    def _acquire(self, spec: FunctionSpec, load_code: Callable[[], FunctionCode]) -> Worker:
        with self._lock:
            stale = [s for s in self._idle if s.arn == spec.arn and s != spec]
            retired = [w for s in stale for w in self._idle.pop(s)]
            warm = self._idle.get(spec)
            worker = warm.pop() if warm else None
        for old in retired:  # the code or configuration changed: those environments are gone
            old.close()
        if worker is not None:
            return worker
        code = load_code()
        return Worker(spec, code, self.endpoint, self._credentials(spec), self._unpacked_layer(code))

    def _unpacked_layer(self, code: FunctionCode) -> str | None:
        """A function with one layer shares that layer's unpacked folder (read-only, as /opt is on Lambda).

        Unpacking the Pillow layer takes about 0.1 s, on every cold start
        otherwise. Two or more layers are merged per worker, as before.
        """
        if len(code.layer_zips) != 1:
            return None
        digest = hashlib.sha256(code.layer_zips[0]).hexdigest()
        with self._layers_lock:
            folder = self._layers.get(digest)
            if folder is None or not os.path.isdir(folder):
                if self._layers_root is None:
                    self._layers_root = tempfile.mkdtemp(prefix="lambda-layers-")
                folder = os.path.join(self._layers_root, digest[:16])
                shutil.rmtree(folder, ignore_errors=True)
                _unzip(code.layer_zips[0], folder)
                self._layers[digest] = folder
            return folder

    def _release(self, worker: Worker) -> None:
        if not worker.alive:
            worker.close()
            return
        with self._lock:
            self._idle.setdefault(worker.spec, []).append(worker)

    def _started(self, spec: FunctionSpec) -> None:
        with self._lock:
            stats = self.stats.setdefault(spec.arn, FunctionStats())
            stats.invocations += 1
            stats.running += 1
            stats.max_concurrent = max(stats.max_concurrent, stats.running)
            self.invocations += 1
            self.running += 1
            self.max_concurrent = max(self.max_concurrent, self.running)

    def _ended(self, spec: FunctionSpec, ok: bool) -> None:
        with self._lock:
            stats = self.stats[spec.arn]
            stats.running -= 1
            stats.errors += 0 if ok else 1
            self.running -= 1

    def invoke(
        self,
        spec: FunctionSpec,
        load_code: Callable[[], FunctionCode],
        event: Any,
        depth: int = 0,
        request_id: str | None = None,
        client_context: dict[str, Any] | None = None,
        invoked_arn: str | None = None,
    ) -> InvocationResult:
        """Invoke ``spec`` once on a warm or new worker, and log it to CloudWatch Logs."""
        request_id = request_id or str(uuid.uuid4())
        self._started(spec)
        ok = False
        try:
            worker = self._acquire(spec, load_code)
            try:
                result = worker.invoke(event, request_id, trace_id(depth), invoked_arn or spec.arn, client_context)
            finally:
                self._release(worker)
            ok = result.ok
        finally:
            self._ended(spec, ok)
        sink = self.sink(spec.region)
        if sink is not None:
            try:
                if self.may_log(spec, worker.log_stream):
                    sink.write(spec.log_group, worker.log_stream, result.log_lines)
            except Exception:  # the log is a courtesy; never fail the invocation for it
                log.exception("could not write the log of %s", spec.name)
        return result

    def function_stats(self, arn: str) -> FunctionStats:
        with self._lock:
            stats = self.stats.get(arn) or FunctionStats()
            return FunctionStats(stats.invocations, stats.running, stats.max_concurrent, stats.errors)

    def workers(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._idle.values())

    def close(self) -> None:
        with self._lock:
            everything = [w for ws in self._idle.values() for w in ws]
            self._idle.clear()
        for worker in everything:
            worker.close()
        if self._layers_root is not None:
            shutil.rmtree(self._layers_root, ignore_errors=True)
