"""Benchmark the set-up: a fresh clone's environment, with uv and with pip, warm and cold caches, and from a bundle.

    .venv/bin/python benchmarks/bench_setup.py              # the set-up alone (a few minutes)
    .venv/bin/python benchmarks/bench_setup.py --run        # also `make run` end to end, as a new user times it
    .venv/bin/python benchmarks/bench_setup.py --repeat 3   # median of three

Each case is a new ``git clone`` of this repository's HEAD into a temporary
folder, then ``make .venv/.installed`` (the set-up that ``make run`` and
``make test`` start with), timed from the outside:

- ``uv`` / ``pip``: ``INSTALLER=uv`` (the default when uv can be had: it is
  installed from the lock into the venv first, since it is not on PATH here) or
  ``INSTALLER=pip``;
- ``warm``: the user's package caches, filled by an untimed run first;
  ``cold``: empty caches (``UV_CACHE_DIR``, ``PIP_CACHE_DIR`` in a temporary
  folder), so every wheel is downloaded;
- ``bundle``: empty caches and ``BUNDLE=`` a bundle for this machine
  (``scripts/bundle.py --this-machine``), as a workshop attendee does;
- ``before``: what ``make`` did before the lock (``pip install --upgrade pip``,
  then ``pip install -e '.[test]'``, resolving from the index), for comparison.

With ``--run``, each case runs ``make run`` instead (set-up, emulator, the
notebooks 00-10 on a private port and state folder), then ``make down``
untimed. Note that this machine's pip configuration may add local indexes or
find-links (``pip config list``), which can make pip's cold cache less cold
than a laptop's; uv reads no pip configuration.

These are measurements, not tests: nothing here fails the build.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _environment(tmp: Path, cold: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "MAKE", "MFLAGS"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and not os.access(os.path.join(p, "uv"), os.X_OK))
    env["WALKTHROUGH_STATE_DIR"] = str(tmp / "state")
    env["WALKTHROUGH_EMULATOR_PORT"] = str(_free_port())
    env["PYTHON"] = getattr(sys, "_base_executable", None) or sys.executable
    if cold:
        env["UV_CACHE_DIR"] = str(tmp / "uv-cache")
        env["PIP_CACHE_DIR"] = str(tmp / "pip-cache")
    return env


def _clone(tmp: Path) -> Path:
    clone = tmp / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    return clone


def _run(command: list[str], clone: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed in {clone}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def one(case: str, installer: str, cache: str, run: bool, bundle: Path | None) -> float:
    """Seconds for one fresh clone's set-up (or ``make run``) in the given case."""
    with tempfile.TemporaryDirectory(prefix="bench-setup-") as name:
        tmp = Path(name)
        clone = _clone(tmp)
        env = _environment(tmp, cold=cache == "cold")
        try:
            if case == "before":
                py = str(clone / ".venv" / "bin" / "python")
                started = time.perf_counter()
                for command in ([env["PYTHON"], "-m", "venv", ".venv"],
                                [py, "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
                                [py, "-m", "pip", "install", "--quiet", "-e", ".[test]"]):
                    _run(command, clone, env)
                elapsed = time.perf_counter() - started
                if run:
                    (clone / ".venv" / ".installed").touch()  # the rest of `make run` is the same as today's
                    elapsed += _run(["make", "run"], clone, env)
                return elapsed
            target = "run" if run else ".venv/.installed"
            command = ["make", target, f"INSTALLER={installer}"] + ([f"BUNDLE={bundle}"] if bundle else [])
            return _run(command, clone, env)
        finally:
            if run and (clone / ".venv" / "bin" / "python").exists():
                subprocess.run(["make", "down"], cwd=clone, env=env, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="store_true", help="time `make run` end to end instead of the set-up alone")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case (the median is shown)")
    parser.add_argument("--cases", default="uv-warm,uv-cold,pip-warm,pip-cold,uv-bundle,pip-bundle,before-warm,before-cold",
                        help="comma-separated cases to run (default: all)")
    args = parser.parse_args(argv)
    cases = args.cases.split(",")

    uv_version = subprocess.run(["grep", "^uv==", str(ROOT / "requirements.lock")], capture_output=True, text=True).stdout.strip()
    print(f"# set-up benchmark: {platform.platform()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"Python {platform.python_version()}, {uv_version}, pip {_pip_version()}")
    what = "make run (set-up, emulator, notebooks 00-10)" if args.run else "set-up (make .venv/.installed)"
    print(f"# each: a fresh git clone, then {what}; median of {args.repeat}")

    bundle_dir = None
    if any(c.endswith("-bundle") for c in cases):
        bundle_dir = Path(tempfile.mkdtemp(prefix="bench-bundle-"))
        started = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "scripts" / "bundle.py"), str(bundle_dir), "--this-machine"],
                       check=True, capture_output=True)
        print(f"# bundle for this machine: {time.perf_counter() - started:.1f} s to build, "
              f"{sum(p.stat().st_size for p in (bundle_dir / 'wheels').glob('*.whl')) / 1e6:.0f} MB")

    rows = []
    try:
        for name in cases:
            installer, cache = name.split("-")
            case = "before" if installer == "before" else "bundle" if cache == "bundle" else "index"
            if cache == "warm":  # fill the user's caches first, untimed
                one(case, installer if case != "before" else "pip", "warm", False, None)
            times = [one(case, installer if case != "before" else "pip", "cold" if cache == "bundle" else cache,
                         args.run, bundle_dir if case == "bundle" else None) for _ in range(args.repeat)]
            rows.append((name, statistics.median(times), times))
            print(f"  {name:<12} {statistics.median(times):7.1f} s", file=sys.stderr, flush=True)
    finally:
        if bundle_dir:
            shutil.rmtree(bundle_dir, ignore_errors=True)

    labels = {"uv-warm": "uv, warm cache", "uv-cold": "uv, cold cache", "pip-warm": "pip, warm cache",
              "pip-cold": "pip, cold cache", "uv-bundle": "uv, from a bundle (--no-index, cold cache)",
              "pip-bundle": "pip, from a bundle (--no-index, cold cache)",
              "before-warm": "before: pip, unlocked, warm cache", "before-cold": "before: pip, unlocked, cold cache"}
    print()
    print(f"| case | {'make run' if args.run else 'set-up'} (s) | runs (s) |")
    print("|---|---:|---|")
    for name, median, times in rows:
        print(f"| {labels.get(name, name)} | {median:.1f} | {', '.join(f'{t:.1f}' for t in times)} |")
    return 0


def _pip_version() -> str:
    import importlib.metadata

    return importlib.metadata.version("pip")


if __name__ == "__main__":
    sys.exit(main())
