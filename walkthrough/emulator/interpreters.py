"""Which Python runs a function: the version its runtime names, found on this machine and checked.

Lambda's ``python3.12`` runtime is Python 3.12, and a layer or a syntax that
only works on another version fails there. So a function runs on the
interpreter its ``Runtime`` names when this machine has one. Candidates, in
order: ``WALKTHROUGH_PYTHON_3_12`` (a path; likewise ``_3_11``, ``_3_13``),
``python3.12`` on ``PATH``, pyenv's versions (``$PYENV_ROOT`` or
``~/.pyenv``), uv's managed Pythons (``$UV_PYTHON_INSTALL_DIR`` or
``~/.local/share/uv/python``), and the emulator's own interpreter. Each is
run once to check that it starts and is that version (pyenv's bare
``python3.12`` shim fails unless ``PYENV_VERSION`` is set). Without one, the
function runs on the emulator's interpreter and the emulator says so.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

_RUNTIME = re.compile(r"^python(\d+)\.(\d+)$")
_PROBE = "import sys; print('%d.%d' % sys.version_info[:2]); print(sys.base_prefix); print(sys.executable)"


@dataclass(frozen=True)
class Interpreter:
    """A Python for a runtime: where it is, what it is, and whether it is the runtime's own version."""

    runtime: str
    path: str
    version: str  # "3.12"
    prefix: str  # its installation (stdlib under prefix/lib/pythonX.Y)
    exact: bool  # the version the runtime names

    @property
    def warning(self) -> str | None:
        """The one line a log shows when the function does not run on its runtime's Python."""
        if self.exact:
            return None
        wanted = self.runtime.removeprefix("python")
        return (f"WARNING walkthrough emulator: {self.runtime} runs on Python {self.version} here (no Python {wanted} found); "
                f"install it (`uv python install {wanted}` or `pyenv install {wanted}`) or set "
                f"WALKTHROUGH_PYTHON_{wanted.replace('.', '_')} to its path")


def runtime_version(runtime: str) -> str | None:
    """``"3.12"`` for ``"python3.12"``; None for a runtime that is not Python."""
    match = _RUNTIME.match(runtime or "")
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _probe(path: str) -> tuple[str, str, str] | None:
    """(version, prefix, real executable) of the interpreter at ``path`` (a shim resolves), or None when it does not run."""
    try:
        out = subprocess.run([path, "-I", "-S", "-c", _PROBE], capture_output=True, text=True, timeout=15, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.splitlines()
    return (lines[0], lines[1], lines[2]) if len(lines) == 3 and lines[2] else None


def _candidates(version: str) -> list[str]:
    name = f"python{version}"
    found: list[str] = []
    explicit = os.environ.get(f"WALKTHROUGH_PYTHON_{version.replace('.', '_')}")
    if explicit:
        found.append(explicit)
    on_path = shutil.which(name)
    if on_path:
        found.append(on_path)
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found += sorted(glob.glob(os.path.join(pyenv_root, "versions", f"{version}.*", "bin", name)), reverse=True)
    uv_root = os.environ.get("UV_PYTHON_INSTALL_DIR") or os.path.expanduser("~/.local/share/uv/python")
    found += sorted(glob.glob(os.path.join(uv_root, f"cpython-{version}.*", "bin", name)), reverse=True)
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        found.append(sys.executable)
    return list(dict.fromkeys(found))


@functools.lru_cache(maxsize=16)
def for_runtime(runtime: str) -> Interpreter:
    """The interpreter that runs functions of ``runtime`` (checked once per emulator process)."""
    version = runtime_version(runtime)
    if version:
        for path in _candidates(version):
            probed = _probe(path)
            if probed and probed[0] == version:
                return Interpreter(runtime, probed[2], version, probed[1], True)
    own = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return Interpreter(runtime, sys.executable, own, sys.base_prefix, version == own)


def describe(runtimes: tuple[str, ...] = ("python3.11", "python3.12", "python3.13")) -> dict[str, dict[str, object]]:
    """What ``emulator status`` shows: each Python runtime and the interpreter that serves it."""
    out: dict[str, dict[str, object]] = {}
    for runtime in runtimes:
        interpreter = for_runtime(runtime)
        out[runtime] = {"python": interpreter.version, "path": interpreter.path, "exact": interpreter.exact,
                        **({"warning": interpreter.warning} if interpreter.warning else {})}
    return out
