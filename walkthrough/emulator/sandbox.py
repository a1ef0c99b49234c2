"""The execution environment's filesystem, as Lambda lays it out, with bubblewrap.

On Lambda a function sees its code read-only at ``/var/task`` (its working
directory and ``LAMBDA_TASK_ROOT``), its layers merged at ``/opt``, the
runtime's Python at ``/var/lang`` and its own packages (boto3) at
``/var/runtime``, and a private ``/tmp`` of the function's ``EphemeralStorage``
(512 MB by default), and nothing else of the machine
(https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html).
Here each worker runs in a bubblewrap sandbox built the same way: a new mount
namespace whose root holds only the system's read-only ``/usr`` and ``/etc``,
those folders, and a size-limited tmpfs at ``/tmp`` (writing past it fails
with ENOSPC, as on Lambda; writing next to the code fails with EROFS). The
network is shared, so the function reaches the emulator on loopback.

Where bubblewrap is missing or cannot make namespaces (macOS, a kernel without
unprivileged user namespaces), the worker runs as before, in a private
temporary folder with the code made read-only and ``TMPDIR`` private, and the
emulator says so in one line (``fallback_reason``).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from walkthrough.emulator.interpreters import Interpreter

log = logging.getLogger("walkthrough.emulator.sandbox")

TASK_ROOT = "/var/task"
OPT_ROOT = "/opt"
LANG_ROOT = "/var/lang"
RUNTIME_DIR = "/var/runtime"
#: What Lambda's Python runtimes include besides the standard library: boto3 and what it needs (pure Python).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
#: The distribution each is installed by, where its name is another.
_DISTRIBUTION_OF = {"dateutil": "python-dateutil"}
_SYSTEM = ("/usr", "/etc")


@dataclass(frozen=True)
class Mounts:
    """The host folders a worker's environment is made of."""

    task: str  # the unpacked code
    opt: str  # the merged layers
    runtime: str  # the runtime's packages, compiled for its Python, and the bootstrap
    interpreter: Interpreter
    tmp_mb: int


@functools.lru_cache(maxsize=1)
def bubblewrap() -> str | None:
    """The bwrap binary when it can build a sandbox here (checked once), else None.

    ``WALKTHROUGH_EMULATOR_SANDBOX=off`` turns it off (to compare, or to debug a function with host tools).
    """
    if os.environ.get("WALKTHROUGH_EMULATOR_SANDBOX", "").strip().lower() in ("off", "0", "false", "no"):
        return None
    binary = shutil.which("bwrap")
    if binary is None:
        return None
    try:
        subprocess.run([binary, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"],
                       capture_output=True, timeout=15, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("bubblewrap is installed but cannot make a sandbox here: %s", exc)
        return None
    return binary


def fallback_reason() -> str | None:
    """The one line the emulator shows when functions run without Lambda's filesystem; None when they have it."""
    if bubblewrap() is not None:
        return None
    why = ("turned off by WALKTHROUGH_EMULATOR_SANDBOX" if os.environ.get("WALKTHROUGH_EMULATOR_SANDBOX")
           else "bubblewrap not found or not permitted")
    return (f"WARNING walkthrough emulator: no sandbox ({why}): the code is not at /var/task and /tmp is neither "
            "private nor limited as on Lambda; install bubblewrap (apt-get install bubblewrap)")


def command(mounts: Mounts, argv: list[str]) -> list[str]:
    """``argv`` (paths inside the environment) wrapped in bubblewrap with Lambda's layout."""
    binary = bubblewrap()
    assert binary is not None, "command() needs bubblewrap; check fallback_reason() first"
    args = [binary, "--die-with-parent", "--unshare-ipc", "--unshare-uts", "--hostname", "localhost"]
    for folder in _SYSTEM:
        args += ["--ro-bind", folder, folder]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    args += ["--proc", "/proc", "--dev", "/dev", "--dir", "/var"]
    args += ["--ro-bind", mounts.interpreter.prefix, LANG_ROOT]
    if not mounts.interpreter.prefix.startswith(_SYSTEM):
        # an interpreter linked to its libpython by absolute path (pyenv's) also needs its own folder
        args += ["--ro-bind", mounts.interpreter.prefix, mounts.interpreter.prefix]
    args += ["--ro-bind", mounts.runtime, RUNTIME_DIR, "--ro-bind", mounts.task, TASK_ROOT, "--ro-bind", mounts.opt, OPT_ROOT]
    args += ["--size", str(mounts.tmp_mb * 1024 * 1024), "--perms", "1777", "--tmpfs", "/tmp", "--chdir", TASK_ROOT]
    return args + ["--", *argv]


def interpreter_inside(interpreter: Interpreter) -> str:
    """Where the interpreter is inside the sandbox: under /var/lang, as on Lambda."""
    return os.path.join(LANG_ROOT, os.path.relpath(interpreter.path, interpreter.prefix))


_runtime_lock = threading.Lock()


@functools.lru_cache(maxsize=4)  # once per process: every cold start asks, and botocore's RECORD is long (8 ms)
def _fingerprint(sources: tuple[tuple[str, Path], ...]) -> str:
    """The packages' contents, not their place: each one's installed files and hashes, as its RECORD lists them.

    By path and modification time, every new clone's venv (and every reinstall)
    made a folder of its own: 36 MB each, 45 of them in a day on this machine.
    A package without a RECORD (installed some other way) counts by path and time.
    """
    digest = hashlib.sha256()
    for name, path in sources:
        try:
            record = importlib.metadata.distribution(_DISTRIBUTION_OF.get(name, name)).read_text("RECORD") or ""
        except importlib.metadata.PackageNotFoundError:
            record = ""
        # the files, not the installer's notes or the bytecode it may have written (pip's embeds times)
        lines = [line for line in record.splitlines() if line and ".dist-info/" not in line and "__pycache__" not in line]
        digest.update(repr((name, sorted(lines) or (str(path), path.stat().st_mtime_ns))).encode())
    return digest.hexdigest()


def runtime_folder(interpreter: Interpreter, bootstrap: str, cache_root: str | None = None) -> str:
    """A folder with the bootstrap and the runtime's packages, compiled once for ``interpreter``.

    Copied from the emulator's own environment (they are pure Python) and
    byte-compiled with the function's interpreter, so a cold start does not
    compile botocore (about 2 s on this machine) and the mount can stay
    read-only. Kept under the walkthrough's cache per Python version and per
    what the packages are (``_fingerprint``), so every checkout and venv with
    the same packages shares one.
    """
    sources = {}
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"the emulator's environment lacks {name}, which Lambda's Python runtime includes")
        origin = Path(spec.origin)
        sources[name] = origin.parent if origin.name == "__init__.py" else origin
    fingerprint = hashlib.sha256(_fingerprint(tuple(sorted(sources.items()))).encode())
    fingerprint.update(Path(bootstrap).read_bytes())
    base = Path(cache_root or os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")) / "walkthrough" / "runtime"
    folder = base / f"python{interpreter.version}-{fingerprint.hexdigest()[:12]}"
    with _runtime_lock:
        if (folder / ".complete").exists():
            return str(folder)
        building = Path(tempfile.mkdtemp(prefix=f"{folder.name}.", dir=_mkdir(base)))
        for name, source in sources.items():
            target = building / source.name
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(source, target)
        shutil.copy2(bootstrap, building / "bootstrap.py")
        subprocess.run([interpreter.path, "-I", "-m", "compileall", "-q", "-j", "0", "-d", RUNTIME_DIR, str(building)],
                       capture_output=True, timeout=600, check=False)
        (building / ".complete").write_text("")
        try:
            building.rename(folder)
        except OSError:  # another emulator built it meanwhile
            shutil.rmtree(building, ignore_errors=True)
    return str(folder)


def _mkdir(path: Path) -> str:
    path.mkdir(parents=True, exist_ok=True)
    return str(path)
