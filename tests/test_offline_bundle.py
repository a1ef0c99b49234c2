"""The offline bundle, used as a workshop uses it: a fresh clone set up from it with no network at all.

Run by ``make test-offline`` (skipped in ``make test``): it builds a bundle for
this machine (``scripts/bundle.py --this-machine``, from the package index and
pip's cache), then, inside a network namespace that has only loopback
(``unshare -n``), sets fresh copies of this clone up with ``make … BUNDLE=``
and runs the notebook sequence on an emulator on a private port. A bundle with
one wheel missing must fail the set-up and say which package is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("WALKTHROUGH_TEST_OFFLINE") != "1",
                       reason="the offline bundle is tested by make test-offline"),
]


def _unshare() -> list[str]:
    """The command prefix for a new network namespace (a user namespace too when not root)."""
    return ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-r", "-n"]


@pytest.fixture(scope="module")
def namespace() -> list[str]:
    """``unshare`` for a namespace with loopback only; skipped, with the reason, where there is none."""
    if not shutil.which("unshare") or not shutil.which("ip"):
        pytest.skip("no network namespaces here: unshare or ip (util-linux, iproute2) is missing")
    probe = subprocess.run([*_unshare(), "sh", "-c", "ip link set lo up && ip -o link show | wc -l && ip route show"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["unshare failed"])[-1]
        pytest.skip(f"no network namespaces here ({reason})")
    assert probe.stdout.split() == ["1"], f"the namespace should have loopback only and no route: {probe.stdout!r}"
    return _unshare()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """A bundle for this machine's Python and platform (plus the Lambda layer's Pillow wheels)."""
    out = tmp_path_factory.mktemp("bundle")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "bundle.py"), str(out), "--this-machine"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"could not build the bundle (needs the package index):\n{done.stderr[-3000:]}"
    return out


def _fresh_clone(dest: Path) -> Path:
    """What a clone of this checkout holds (tracked and new files, as they are now), without .venv or build/."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _offline(namespace: list[str], clone: Path, script: str, tmp: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (bash) in ``clone`` inside a new namespace with loopback up, as a new user with empty caches."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PIP_", "UV_", "VIRTUAL_ENV", "MAKE", "MFLAGS"))}
    # No uv on PATH (so the one in the bundle is used), no pip configuration, no cache: only the bundle.
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and not os.access(os.path.join(p, "uv"), os.X_OK))
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_CACHE_DIR=str(tmp / "pip-cache"), UV_CACHE_DIR=str(tmp / "uv-cache"),
               XDG_CACHE_HOME=str(tmp / "cache"), WALKTHROUGH_STATE_DIR=str(tmp / "state"),
               WALKTHROUGH_EMULATOR_PORT=str(_free_port()), PYTHON=_base_python(), **extra)
    return subprocess.run([*namespace, "bash", "-c", f"set -e; ip link set lo up; {script}"], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=1200)


def _base_python() -> str:
    """The interpreter this environment was made from: the bundle was built for its version."""
    return getattr(sys, "_base_executable", None) or sys.executable


def _tail(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"


def test_a_fresh_clone_sets_up_from_the_bundle_and_runs_the_notebooks_with_no_network(namespace, bundle, tmp_path):
    clone = _fresh_clone(tmp_path / "clone")
    script = (
        "trap '.venv/bin/python -m walkthrough emulator stop >/dev/null 2>&1 || true' EXIT\n"
        f"make run BUNDLE='{bundle}'\n"
        # pillow_layer='build' offline: pip download finds Pillow's Lambda wheel in the bundle
        f"PIP_NO_INDEX=1 PIP_FIND_LINKS='{bundle}/wheels' WALKTHROUGH_WHEEL_CACHE='{tmp_path}/layer' .venv/bin/python -c \""
        "from walkthrough.packaging import build_pillow_layer_zip; "
        "zip, wheel = build_pillow_layer_zip('x86_64'); print('LAYER', wheel.name)\"\n"
        "make down\n"
    )
    done = _offline(namespace, clone, script, tmp_path)
    assert done.returncode == 0, _tail(done)
    assert f"setup: installing from the bundle {bundle}" in done.stdout
    assert "with uv" in done.stdout, "the bundle carries uv, so the set-up uses it"
    assert "The pipeline is up on the local emulator" in done.stdout
    assert (clone / "build" / "notebooks" / "07_testing_pipeline.ipynb").exists()
    assert "LAYER pillow-" in done.stdout and "cp312-cp312-manylinux" in done.stdout and "x86_64" in done.stdout
    assert "Everything the walkthrough created is gone." in done.stdout


def test_pip_alone_sets_up_from_the_bundle_too(namespace, bundle, tmp_path):
    clone = _fresh_clone(tmp_path / "clone")
    done = _offline(namespace, clone, f"make .venv/.installed BUNDLE='{bundle}' INSTALLER=pip\n"
                                      ".venv/bin/walkthrough --help", tmp_path)
    assert done.returncode == 0, _tail(done)
    assert "setup: installing requirements.lock with pip" in done.stdout and "with uv" not in done.stdout
    assert "emulator" in done.stdout  # the package and its command are installed


@pytest.mark.parametrize("installer", ["auto", "pip"])
def test_a_bundle_missing_a_wheel_fails_the_set_up_and_names_the_package(namespace, bundle, tmp_path, installer):
    incomplete = tmp_path / "incomplete"
    (incomplete / "wheels").mkdir(parents=True)
    for name in ("requirements.lock", "manifest.json", "README.md"):
        shutil.copy2(bundle / name, incomplete / name)
    removed = [wheel for wheel in (bundle / "wheels").glob("*.whl") if wheel.name.startswith("moto-")]
    assert removed, "the bundle has moto's wheel"
    for wheel in (bundle / "wheels").glob("*.whl"):
        if wheel not in removed:
            (incomplete / "wheels" / wheel.name).symlink_to(wheel)
    clone = _fresh_clone(tmp_path / "clone")
    done = _offline(namespace, clone, f"make .venv/.installed BUNDLE='{incomplete}' INSTALLER={installer}", tmp_path)
    assert done.returncode != 0, _tail(done)
    assert "moto" in done.stderr, _tail(done)
    assert f"the bundle at {incomplete} lacks a package this machine needs" in done.stderr, _tail(done)
    assert not (clone / ".venv" / ".installed").exists()
