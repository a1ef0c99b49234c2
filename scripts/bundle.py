"""Write the offline bundle for workshops: every wheel of requirements.lock, for every machine it serves.

    make bundle                          # build/bundle/
    make bundle BUNDLE=/media/usb/walkthrough
    .venv/bin/python scripts/bundle.py DIR [--this-machine]

A teacher copies the folder to a USB stick or a local file server; each attendee
then sets a fresh clone up with ``make run BUNDLE=<dir>`` and no network. What is
in it:

- ``wheels/``: the wheels of every locked package for Python 3.11, 3.12 and 3.13
  on Linux (x86_64, aarch64; glibc 2.28 or newer) and macOS 11 or newer (arm64,
  x86_64), pure-Python wheels once for all; uv, pip, setuptools and wheel among
  them (the set-up's own tools, locked too), so both installers and this
  package's editable build work offline; and Pillow's manylinux wheels for
  Lambda's python3.12 (x86_64 and arm64), which ``pillow_layer="build"`` packs
  into a layer;
- ``requirements.lock``: the lock it was made from (a clone with another lock
  refuses the bundle rather than fail half-way);
- ``manifest.json``: the machines, and the wheels each one uses;
- ``README.md``: how to use it.

Wheels come from the package index through ``pip download`` (its cache makes a
second run quick); a bundle folder that already holds wheels is topped up and
pruned to the lock. ``--this-machine`` writes the wheels for this Python and
platform only (plus the Lambda layer's), as ``make test-offline`` does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from packaging import tags
from packaging.markers import Marker
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"

PYTHONS = ((3, 11), (3, 12), (3, 13))
#: The oldest systems served: glibc 2.28 (Debian 10, Ubuntu 20.04, RHEL 8), macOS 11.
GLIBC_MINOR = 28
MACOS = (11, 0)
#: Lambda's python3.12 runtime: the Pillow wheels that walkthrough/packaging.py packs into a layer.
LAMBDA_PYTHON = (3, 12)
LAMBDA_PACKAGES = ("pillow",)


@dataclass
class Target:
    """One kind of machine: a CPython version on an operating system and CPU."""

    name: str
    python: tuple[int, int]
    system: str  # sys.platform: linux or darwin
    machine: str  # platform.machine() there
    platforms: list[str]  # platform tags, most preferred first
    about: str = ""  # what it is, for the README
    only: tuple[str, ...] = ()  # only these packages (the Lambda layer's)
    wheels: list[str] = field(default_factory=list)

    @property
    def tags(self) -> set[tags.Tag]:
        interpreter = f"cp{self.python[0]}{self.python[1]}"
        return set(tags.cpython_tags(self.python, [interpreter], self.platforms)) | set(
            tags.compatible_tags(self.python, interpreter, self.platforms))

    def environments(self, full_versions: list[Version]) -> list[dict[str, str]]:
        """Marker environments for this target: one per patch release a marker of the lock tells apart."""
        patches = sorted({0} | {v.micro + d for v in full_versions if v.release[:2] == self.python for d in (0, 1)})
        base = {"python_version": f"{self.python[0]}.{self.python[1]}", "sys_platform": self.system,
                "platform_system": {"linux": "Linux", "darwin": "Darwin"}[self.system], "platform_machine": self.machine,
                "os_name": "posix", "implementation_name": "cpython", "platform_python_implementation": "CPython",
                "extra": ""}
        return [{**base, "python_full_version": f"{base['python_version']}.{patch}"} for patch in patches]


def linux_platforms(machine: str) -> list[str]:
    tags_ = [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MINOR, 16, -1)] + [f"manylinux2014_{machine}"]
    return tags_ + ([f"manylinux2010_{machine}", f"manylinux1_{machine}"] if machine == "x86_64" else [])


def all_targets() -> list[Target]:
    targets = []
    for python in PYTHONS:
        name = f"cp{python[0]}{python[1]}"
        for machine in ("x86_64", "aarch64"):
            targets.append(Target(f"{name}-linux-{machine}", python, "linux", machine, linux_platforms(machine),
                                  f"Linux {machine} (glibc 2.{GLIBC_MINOR} or newer)"))
        for machine in ("arm64", "x86_64"):
            targets.append(Target(f"{name}-macos-{machine}", python, "darwin", machine,
                                  list(tags.mac_platforms(MACOS, machine)), f"macOS {MACOS[0]} or newer, {machine}"))
    return targets


def this_machine() -> Target:
    python = sys.version_info[:2]
    platforms = [str(t.platform) for t in tags.sys_tags()]
    unique = list(dict.fromkeys(platforms))
    return Target(f"cp{python[0]}{python[1]}-this-machine", python, sys.platform, platform.machine(), unique,
                  f"this machine ({sys.platform} {platform.machine()})")


def lambda_targets() -> list[Target]:
    from walkthrough.packaging import LAMBDA_PLATFORMS

    python = LAMBDA_PYTHON
    name = f"cp{python[0]}{python[1]}"
    return [Target(f"lambda-{name}-{arch}", python, "linux", {"x86_64": "x86_64", "arm64": "aarch64"}[arch],
                   list(platforms), f"Lambda's python3.12 runtime, {arch}", only=LAMBDA_PACKAGES)
            for arch, platforms in LAMBDA_PLATFORMS.items()]


def read_lock(path: Path) -> list[tuple[str, str, Marker | None]]:
    """(name, version, marker) for each ``name==version ; marker`` line."""
    entries = []
    for line in path.read_text().splitlines():
        if not line or line[0] in " #-":
            continue
        requirement, _, marker = line.partition(" ; ")
        name, version = requirement.strip().split("==")
        entries.append((canonicalize_name(name), version, Marker(marker) if marker else None))
    return entries


def marker_versions(lock: list[tuple[str, str, Marker | None]]) -> list[Version]:
    """Every full Python version a marker of the lock compares with (soupsieve splits at 3.11.5, say)."""
    import re

    found = set()
    for _, _, marker in lock:
        for text in re.findall(r"python_full_version\s*[<>=!~]+\s*['\"]([0-9]+(?:\.[0-9]+)*)", str(marker or "")):
            found.add(Version(text))
    return sorted(found)


def needed(target: Target, lock: list[tuple[str, str, Marker | None]]) -> dict[tuple[str, str], str]:
    """The (name, version) pairs of the lock that this target installs, each with a Python version that installs it.

    That full version (the newest patch release for which the pair's marker holds) is what pip checks
    ``Requires-Python`` against: soupsieve 4 needs 3.11.5 or newer, say, and 3.11.0 gets soupsieve 2.
    """
    environments = target.environments(marker_versions(lock))
    pairs: dict[tuple[str, str], str] = {}
    for name, version, marker in lock:
        if target.only and name not in target.only:
            continue
        fits = [env["python_full_version"] for env in environments if marker is None or marker.evaluate(env)]
        if fits:
            pairs[(name, version)] = fits[-1]
    return dict(sorted(pairs.items()))


def wheel_for(name: str, version: str, target: Target, wheels: Path) -> str | None:
    """A wheel already in ``wheels`` that installs ``name==version`` on the target, if there is one."""
    supported = target.tags
    for path in sorted(wheels.glob("*.whl")):
        try:
            wheel_name, wheel_version, _, wheel_tags = parse_wheel_filename(path.name)
        except ValueError:
            continue
        if wheel_name == name and wheel_version == Version(version) and wheel_tags & supported:
            return path.name
    return None


def download(target: Target, pairs: dict[tuple[str, str], str], wheels: Path) -> dict[tuple[str, str], str]:
    """``pip download`` the target's wheels for ``pairs`` into ``wheels``; pip's error for each one it could not get."""
    interpreter = f"cp{target.python[0]}{target.python[1]}"
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
               "--only-binary=:all:", "--implementation", "cp"]
    for abi in (interpreter, "abi3", "none"):
        command += ["--abi", abi]
    for platform_tag in target.platforms:
        command += ["--platform", platform_tag]

    def fetch(python: str, batch: list[tuple[str, str]]) -> str:
        with tempfile.TemporaryDirectory(prefix="bundle-", dir=wheels.parent) as tmp:
            done = subprocess.run(command + ["--python-version", python, "--dest", tmp]
                                  + [f"{n}=={v}" for n, v in batch], capture_output=True, text=True)
            for path in Path(tmp).glob("*.whl"):
                path.replace(wheels / path.name)
        if done.returncode == 0:
            return ""
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.startswith("ERROR")]
        return lines[-1] if lines else f"pip download exited with {done.returncode}"

    errors: dict[tuple[str, str], str] = {}
    for python in sorted(set(pairs.values())):
        todo = [pair for pair, version in pairs.items() if version == python]
        while todo:
            error = fetch(python, todo)
            if not error:
                break
            # pip stops at the first requirement it cannot satisfy: note it, and ask again for the rest.
            culprit = next((pair for pair in todo if error.endswith(f" {pair[0]}=={pair[1]}")), None)
            if culprit is None:
                errors.update({pair: error for pair in todo})
                break
            errors[culprit] = error
            todo = [pair for pair in todo if pair != culprit and not wheel_for(*pair, target, wheels)]
    return errors


def build(out: Path, targets: list[Target]) -> dict:
    started = time.monotonic()
    lock = read_lock(LOCK)
    wheels = out / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    missing: dict[str, list[tuple[str, str]]] = {}

    def top_up(target: Target) -> dict[tuple[str, str], str]:
        todo = {pair: python for pair, python in needed(target, lock).items() if not wheel_for(*pair, target, wheels)}
        return download(target, todo, wheels) if todo else {}

    # The first target brings the pure-Python wheels every other one shares; the rest run two at a time.
    errors = {targets[0].name: top_up(targets[0])}
    with ThreadPoolExecutor(max_workers=2) as pool:
        errors.update(zip((t.name for t in targets[1:]), pool.map(top_up, targets[1:])))

    used: set[str] = set()
    for target in targets:
        target.wheels = []
        for pair in needed(target, lock):
            found = wheel_for(*pair, target, wheels)
            if found:
                target.wheels.append(found)
                used.add(found)
            else:
                missing.setdefault(target.name, []).append(pair)
    for path in wheels.glob("*"):
        if path.name not in used:
            path.unlink()  # left from an older lock

    shutil.copyfile(LOCK, out / "requirements.lock")
    size = sum(path.stat().st_size for path in wheels.glob("*.whl"))
    manifest = {
        "lock_sha256": hashlib.sha256(LOCK.read_bytes()).hexdigest(),
        "wheels": len(used),
        "size_mb": round(size / 1e6, 1),
        "build_seconds": round(time.monotonic() - started, 1),
        "targets": {t.name: {"python": "%d.%d" % t.python, "system": t.system, "machine": t.machine,
                             "wheels": sorted(t.wheels)} for t in targets},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    (out / "README.md").write_text(readme(targets, manifest))
    if missing:
        for name, pairs in missing.items():
            for pair in pairs:
                reason = errors.get(name, {}).get(pair) or "no wheel found"
                print(f"bundle: {name}: no wheel of {pair[0]}=={pair[1]} ({reason})", file=sys.stderr)
        print("bundle: incomplete; see lock-constraints.txt for how to pin a release that has wheels", file=sys.stderr)
        raise SystemExit(1)
    return manifest


def readme(targets: list[Target], manifest: dict) -> str:
    machines = "\n".join(f"- `{t.name}`: Python {t.python[0]}.{t.python[1]} on {t.about}"
                          + (f" (only {', '.join(t.only)}, for the layer `pillow_layer=\"build\"` makes)" if t.only else "")
                          for t in targets)
    return f"""# Offline bundle for the image-pipeline walkthrough

Everything a fresh clone needs to set itself up with no network: the wheels of
every package in `requirements.lock` ({manifest['wheels']} wheels, {manifest['size_mb']} MB), for these machines:

{machines}

## Use it

Copy this folder to a USB stick or a local file server, then on each machine,
in a clone of the walkthrough made from the same commit (same `requirements.lock`):

```bash
make run BUNDLE=/path/to/this/folder     # set up from here, then run the pipeline
make test BUNDLE=/path/to/this/folder    # or the tests
```

The set-up installs with `--no-index --find-links wheels/`: nothing is fetched.
A clone whose `requirements.lock` differs from the copy here refuses the bundle
and says so; make a new one with `make bundle BUNDLE=<dir>`.

To build the Pillow layer for Lambda (`pillow_layer="build"`) from here too:

```bash
export PIP_NO_INDEX=1 PIP_FIND_LINKS=/path/to/this/folder/wheels
```

`manifest.json` lists the wheels each machine uses.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the bundle folder (created, or topped up)")
    parser.add_argument("--this-machine", action="store_true",
                        help="only this Python and platform (plus the Lambda layer's wheels)")
    args = parser.parse_args(argv)
    targets = ([this_machine()] if args.this_machine else all_targets()) + lambda_targets()
    manifest = build(args.out, targets)
    print(f"bundle: {args.out}: {manifest['wheels']} wheels, {manifest['size_mb']} MB, for "
          f"{len(targets)} machines, in {manifest['build_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
