"""Reproducible zip files for Lambda: the same inputs give the same bytes (and CodeSha256).

Fixed timestamps and sorted entries mean re-running a step whose code did not
change is recognised as "unchanged" instead of redeploying.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import os
import zipfile
from pathlib import Path
from typing import Iterable

_EPOCH = (1980, 1, 1, 0, 0, 0)


def deterministic_zip(entries: Iterable[tuple[str, Path]]) -> bytes:
    """Zip ``(name in archive, file on disk)`` pairs with fixed metadata."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, path in sorted(entries):
            info = zipfile.ZipInfo(name, _EPOCH)
            info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def tree_entries(root: Path, prefix: str, bytecode: bool = False) -> list[tuple[str, Path]]:
    """Every file below ``root`` as ``prefix/relative/path``; bytecode caches only when asked for."""
    return [
        (f"{prefix}/{path.relative_to(root).as_posix()}", path)
        for path in root.rglob("*")
        if path.is_file() and (bytecode or ("__pycache__" not in path.parts and path.suffix != ".pyc"))
    ]


def code_sha256(data: bytes) -> str:
    """Lambda's CodeSha256: base64 of the SHA-256 of the zip."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


# --------------------------------------------------------------------------- Pillow layers
# Here rather than in layer.py because the emulator also builds this zip (to stand in for
# Klayers' public layers) and must not import step modules; nothing here talks to AWS.

#: Lambda's CPU architectures and the manylinux platforms whose wheels run there
#: (python3.12 runs on Amazon Linux 2023, glibc 2.34: manylinux_2_28 and older fit).
LAMBDA_PLATFORMS = {
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
}


@functools.lru_cache(maxsize=1)  # 7 MB of deflate (~0.75 s): once per process, not once per step that publishes it
def build_local_pillow_zip() -> bytes:
    """A layer zip of the installed Pillow: ``python/PIL/...``, its vendored libs and metadata."""
    import importlib.metadata

    import PIL

    site = Path(PIL.__file__).resolve().parent.parent
    entries = tree_entries(site / "PIL", "python/PIL")
    distribution = importlib.metadata.distribution("pillow")
    for extra in site.glob("pillow.libs"):  # manylinux wheels load these via $ORIGIN/../pillow.libs
        entries += tree_entries(extra, "python/pillow.libs")
    dist_info = Path(str(distribution._path))  # type: ignore[attr-defined]
    entries += tree_entries(dist_info, f"python/{dist_info.name}")
    return deterministic_zip(entries)


def pillow_requirement() -> str:
    """The Pillow a built layer holds: the version installed here, which the tests ran with."""
    import importlib.metadata

    return f"pillow=={importlib.metadata.version('pillow')}"


def download_pillow_wheel(dest: Path, architecture: str = "x86_64", python_version: str = "3.12",
                          requirement: str | None = None, timeout_s: float = 120.0, find_links: str | None = None) -> Path:
    """``pip download`` Pillow's manylinux wheel for Lambda's Python and architecture into ``dest``.

    ``find_links``: a folder of wheels (a workshop bundle) to take it from, with no index.
    Raises ``RuntimeError`` with pip's last line when it cannot (offline, no such wheel).
    """
    import subprocess
    import sys

    if architecture not in LAMBDA_PLATFORMS:
        raise ValueError(f"unknown Lambda architecture {architecture!r}: use one of {', '.join(LAMBDA_PLATFORMS)}")
    dest.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
               "--only-binary=:all:", "--implementation", "cp", "--python-version", python_version,
               "--dest", str(dest)]
    for platform in LAMBDA_PLATFORMS[architecture]:
        command += ["--platform", platform]
    if find_links:
        command += ["--no-index", "--find-links", find_links]
    command.append(requirement or pillow_requirement())
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    wheels = sorted(dest.glob("pillow-*.whl"))
    if result.returncode != 0 or not wheels:
        last = (result.stderr.strip() or result.stdout.strip() or "no wheel downloaded").splitlines()[-1]
        raise RuntimeError(f"pip download failed: {last}")
    return wheels[-1]


def wheel_tags(wheel: Path) -> tuple[str, str, str]:
    """(python tag, abi tag, platform tag) from a wheel's file name."""
    parts = wheel.name[: -len(".whl")].split("-")
    return parts[-3], parts[-2], parts[-1]


#: Where Lambda unpacks a layer's ``python/`` folder (the paths its bytecode names).
LAYER_PYTHON_PATH = "/opt/python"


def layer_zip_from_wheel(wheel: Path) -> bytes:
    """The wheel unpacked under ``python/`` (where Lambda puts layers on ``sys.path``), byte-compiled, zipped reproducibly."""
    import tempfile
    import zipfile

    with tempfile.TemporaryDirectory(prefix="pillow-layer-") as tmp:
        root = Path(tmp) / "python"
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(root)
        compiled = byte_compile_for(root, wheel_tags(wheel)[0])
        return deterministic_zip(tree_entries(root, "python", bytecode=compiled))


def byte_compile_for(root: Path, python_tag: str) -> bool:
    """Compile the layer's modules with the Python it is for (``cp312``), as ``pip install --target`` does.

    pip byte-compiles what it installs by default, so a layer built with the
    runtime's own pip carries ``__pycache__/*.cpython-312.pyc``; a cold start
    then loads Pillow's modules instead of compiling them (0.08 s of a 0.15 s
    import measured here, in every new execution environment). The bytecode
    is hash-checked (PEP 552): valid whatever file times unzipping gives, and
    the zip stays the same from one build to the next. False, and no
    bytecode, when that Python is not on this machine.
    """
    import subprocess

    from walkthrough.emulator import interpreters

    version = f"{python_tag[2]}.{python_tag[3:]}" if python_tag.startswith("cp") and python_tag[2:].isdigit() else None
    if version is None:
        return False
    interpreter = interpreters.for_runtime(f"python{version}")
    if not interpreter.exact:
        return False
    done = subprocess.run([interpreter.path, "-I", "-m", "compileall", "-q", "-j", "0", "-d", LAYER_PYTHON_PATH,
                           "--invalidation-mode", "checked-hash", str(root)], capture_output=True, timeout=300)
    return done.returncode == 0


def layer_zip_cache(wheel: Path) -> Path:
    """Where the layer built from ``wheel`` is kept; the name changes with what a layer holds (now its bytecode)."""
    return wheel.with_name(wheel.name + ".layer-compiled.zip")


def cached_layer_zip_from_wheel(wheel: Path) -> bytes:
    """``layer_zip_from_wheel``, kept next to the wheel: every notebook kernel and emulator needs the same zip.

    Unpacking and deflating Pillow's wheel takes about 0.9 s of CPU; the test
    suite and a workshop's notebooks build it dozens of times. The zip is
    deterministic, so the copy on disk is the zip that would be built; it is
    written atomically, and rebuilt when missing, unreadable or older than the wheel.
    """
    cached = layer_zip_cache(wheel)
    try:
        if cached.stat().st_mtime >= wheel.stat().st_mtime:
            return cached.read_bytes()
    except OSError:
        pass
    content = layer_zip_from_wheel(wheel)
    partial = cached.with_name(f"{cached.name}.{os.getpid()}.partial")
    try:
        partial.write_bytes(content)
        os.replace(partial, cached)
    except OSError:  # a read-only cache still gets its zip, built each time
        partial.unlink(missing_ok=True)
    return content


def wheel_cache(python_version: str, architecture: str = "x86_64") -> Path:
    """Where Pillow's wheel for one Lambda Python and architecture is kept (``WALKTHROUGH_WHEEL_CACHE`` or the user cache)."""
    base = os.environ.get("WALKTHROUGH_WHEEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "walkthrough", "wheels")
    return Path(base) / f"cp{python_version.replace('.', '')}-{architecture}"


def cached_pillow_wheel(python_version: str, architecture: str = "x86_64", find_links: str | None = None) -> Path:
    """Pillow's wheel (the version installed here) for that Python and architecture: from the cache, else fetched once."""
    cache_dir = wheel_cache(python_version, architecture)
    version = pillow_requirement().split("==", 1)[1]
    cached = sorted(cache_dir.glob(f"pillow-{version}-*.whl")) if cache_dir.exists() else []
    return cached[-1] if cached else download_pillow_wheel(cache_dir, architecture, python_version, find_links=find_links)


def build_pillow_layer_zip(architecture: str = "x86_64", python_version: str = "3.12") -> tuple[bytes, Path]:
    """A Pillow layer for Lambda built from Pillow's manylinux wheel; (zip bytes, the wheel used).

    The wheel is cached (``wheel_cache``), so building again needs no download.
    """
    wheel = cached_pillow_wheel(python_version, architecture)
    return cached_layer_zip_from_wheel(wheel), wheel


def pillow_layer_zip_for(python_version: str, architecture: str = "x86_64") -> bytes:
    """A Pillow layer that imports under that Python: this environment's Pillow when it is that Python, else the wheel.

    A layer of this machine's Pillow holds C extensions built for this
    machine's Python (``_imaging.cpython-311-...``); under another version it
    fails exactly as on Lambda ("cannot import name '_imaging'").
    """
    import sys

    if python_version == f"{sys.version_info.major}.{sys.version_info.minor}":
        return build_local_pillow_zip()
    return build_pillow_layer_zip(architecture, python_version)[0]


def main(argv: list[str] | None = None) -> int:
    """``python -m walkthrough.packaging prefetch``: fetch the Pillow wheels the Lambda runtimes need, once (set-up)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m walkthrough.packaging")
    parser.add_argument("action", choices=["prefetch"])
    parser.add_argument("--python", action="append", default=None, help="Lambda Python version (default 3.12)")
    parser.add_argument("--architecture", action="append", default=None, choices=list(LAMBDA_PLATFORMS))
    parser.add_argument("--find-links", default=os.environ.get("BUNDLE") or None, help="a folder of wheels (a workshop bundle)")
    args = parser.parse_args(argv)
    failed = 0
    for version in args.python or ["3.12"]:
        for architecture in args.architecture or ["x86_64"]:
            try:
                wheel = cached_pillow_wheel(version, architecture, args.find_links)
                print(f"Pillow for python{version} {architecture}: {wheel}")
            except RuntimeError as exc:
                failed += 1
                print(f"Pillow for python{version} {architecture}: not fetched ({exc}); the emulator will try again when a layer needs it")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
