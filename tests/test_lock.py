"""requirements.lock: the set every set-up installs, complete for pyproject.toml on every platform it serves."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
SETUP = ROOT / "scripts" / "setup-venv"

#: The machines the lock (and the offline bundle) serve: Python 3.11-3.13 on Linux and macOS.
ENVIRONMENTS = [
    {"python_version": f"3.{minor}", "python_full_version": f"3.{minor}.{patch}", "sys_platform": system,
     "platform_system": {"linux": "Linux", "darwin": "Darwin"}[system], "platform_machine": machine,
     "os_name": "posix", "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    for minor in (11, 12, 13) for patch in (0, 9)
    for system, machine in (("linux", "x86_64"), ("linux", "aarch64"), ("darwin", "arm64"), ("darwin", "x86_64"))
]


def _locked() -> list[tuple[str, str, Marker | None]]:
    entries = []
    for line in LOCK.read_text().splitlines():
        if not line or line[0] in " #":
            continue
        requirement, _, marker = line.partition(" ; ")
        name, version = requirement.split("==")
        entries.append((canonicalize_name(name), version, Marker(marker) if marker else None))
    return entries


def _pins(environment: dict[str, str]) -> dict[str, str]:
    pins: dict[str, str] = {}
    for name, version, marker in _locked():
        if marker is None or marker.evaluate(environment):
            assert name not in pins, f"{name} is pinned twice for {environment['python_full_version']} {environment['sys_platform']}"
            pins[name] = version
    return pins


def _wanted() -> list[Requirement]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    names = data["project"]["dependencies"] + data["project"]["optional-dependencies"]["test"]
    return [Requirement(r) for r in names + data["dependency-groups"]["setup"]]


def test_every_line_of_the_lock_is_an_exact_pin():
    for line in LOCK.read_text().splitlines():
        if line and line[0] not in " #":
            assert re.match(r"^[A-Za-z0-9_.\-]+==[^ ;]+( ; .+)?$", line), line


def test_the_lock_says_how_to_refresh_it():
    assert "make lock" in LOCK.read_text().splitlines()[1]


@pytest.mark.parametrize("environment", ENVIRONMENTS,
                         ids=[f"py{e['python_full_version']}-{e['sys_platform']}-{e['platform_machine']}" for e in ENVIRONMENTS])
def test_the_lock_pins_every_requirement_of_pyproject_within_its_range(environment):
    pins = _pins(environment)
    for requirement in _wanted():
        if requirement.marker and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is in pyproject.toml but not in requirements.lock: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside pyproject.toml's {requirement}: run make lock")


def test_the_set_up_uses_the_lock_and_reinstalls_when_it_changes():
    makefile = (ROOT / "Makefile").read_text()
    stamp_rule = next(line for line in makefile.splitlines() if line.startswith("$(STAMP):"))
    assert "requirements.lock" in stamp_rule and "pyproject.toml" in stamp_rule
    assert "requirements.lock" in SETUP.read_text()


def _setup(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SETUP), str(tmp_path / "venv"), *args], capture_output=True, text=True, timeout=60)


def test_the_set_up_names_a_bundle_folder_that_is_not_there(tmp_path):
    done = _setup(tmp_path, str(tmp_path / "usb"))
    assert done.returncode != 0
    assert f"no bundle at {tmp_path / 'usb'}" in done.stderr and "make bundle" in done.stderr
    assert not (tmp_path / "venv").exists()


def test_the_set_up_refuses_a_bundle_made_from_another_lock(tmp_path):
    bundle = tmp_path / "bundle"
    (bundle / "wheels").mkdir(parents=True)
    (bundle / "requirements.lock").write_text(LOCK.read_text().replace("moto==", "moto==0.0.1+", 1))
    done = _setup(tmp_path, str(bundle))
    assert done.returncode != 0
    assert "made from another requirements.lock" in done.stderr and "make bundle" in done.stderr
    assert not (tmp_path / "venv").exists()
