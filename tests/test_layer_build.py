"""Pillow layers: the one the walkthrough builds for AWS, and Klayers' public one on the emulator."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from walkthrough import layer, packaging
from walkthrough.emulator import moto_internals

PYTHON312 = shutil.which("python3.12")


@pytest.fixture(scope="module")
def built_layer(tmp_path_factory):
    """Pillow's manylinux wheel for CPython 3.12 x86_64, unpacked into ``python/`` and zipped (needs the package index)."""
    try:
        content, wheel = packaging.build_pillow_layer_zip("x86_64")  # the user's wheel cache: fetched once
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"pip cannot download Pillow's manylinux wheel here (no package index?): {exc}")
    return content, wheel


def test_the_built_layer_holds_pillow_for_python_3_12_on_linux_x86_64(built_layer):
    content, wheel = built_layer
    python_tag, abi_tag, platform_tag = packaging.wheel_tags(wheel)
    assert (python_tag, abi_tag) == ("cp312", "cp312")
    assert "manylinux" in platform_tag and platform_tag.endswith("x86_64")
    assert wheel.name.startswith(f"pillow-{packaging.pillow_requirement().split('==')[1]}-")  # the Pillow tested here
    names = zipfile.ZipFile(io.BytesIO(content)).namelist()
    assert names and all(n.startswith("python/") for n in names)
    assert "python/PIL/__init__.py" in names and "python/PIL/Image.py" in names
    assert any(n.startswith("python/PIL/_imaging.cpython-312-x86_64-linux-gnu") for n in names)
    assert any(n.startswith("python/pillow.libs/") for n in names)  # the libraries the wheel vendors
    assert packaging.build_pillow_layer_zip("x86_64")[0] == content  # cached and reproducible


def _python312_runs() -> bool:
    if PYTHON312 is None:
        return False
    try:
        done = subprocess.run([PYTHON312, "-c", "import sys; assert sys.version_info[:2] == (3, 12)"],
                              env={**os.environ, "PYENV_VERSION": "3.12.1"}, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def test_the_built_layer_imports_under_python_3_12(built_layer, tmp_path):
    if not _python312_runs():
        pytest.skip("no working python3.12 (PYENV_VERSION=3.12.1) on this machine")
    content, _ = built_layer
    zipfile.ZipFile(io.BytesIO(content)).extractall(tmp_path)
    opt = tmp_path / "python"
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import PIL, PIL.Image, json; "
        "image = PIL.Image.new('RGB', (64, 48), 'red').resize((32, 24)); "
        "print(json.dumps({'file': PIL.__file__, 'version': PIL.__version__, 'size': image.size}))"
    )
    done = subprocess.run([PYTHON312, "-I", "-c", script, str(opt)], env={**os.environ, "PYENV_VERSION": "3.12.1"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert Path(answer["file"]).resolve().is_relative_to(opt.resolve())
    assert answer["size"] == [32, 24] and answer["version"] == packaging.pillow_requirement().split("==")[1]


def test_layer_reexports_the_zip_builder_that_the_emulator_shares():
    assert layer.build_local_pillow_zip is packaging.build_local_pillow_zip


def test_only_klayers_pillow_arns_get_a_stand_in():
    for arn in (layer.document_layer_arn("eu-west-1"),
                "arn:aws:lambda:ap-southeast-2:770693421928:layer:Klayers-p312-pillow:14"):
        assert moto_internals.public_layer_version(arn) is not None
    for arn in ("arn:aws:lambda:eu-west-1:770693421928:layer:Klayers-p312-requests:3",
                "arn:aws:lambda:eu-west-1:123456789012:layer:Klayers-p312-Pillow:6",
                "arn:aws:lambda:eu-west-1:770693421928:layer:Klayers-p311-Pillow:6"):
        assert moto_internals.public_layer_version(arn) is None


REPORT_PIL = """
import PIL, PIL.Image

def lambda_handler(event, context):
    image = PIL.Image.new("RGB", (40, 30)).resize((20, 15))
    return {"file": PIL.__file__, "version": PIL.__version__, "size": list(image.size)}
"""


@pytest.mark.emulator
@pytest.mark.parametrize("region, arn", [
    ("eu-west-1", None),  # the document's ARN, as written
    ("us-east-2", "arn:aws:lambda:us-east-2:770693421928:layer:Klayers-p312-pillow:12"),  # a newer one, lower-case
])
def test_the_emulator_attaches_klayers_pillow_layer_and_the_function_imports_pil_from_it(region, arn, emulator):
    import PIL

    arn = arn or layer.document_layer_arn(region)
    name = emulator.deploy(REPORT_PIL, region=region, Layers=[arn], MemorySize=512)
    configuration = emulator.client("lambda", region).get_function(FunctionName=name)["Configuration"]
    assert [l["Arn"] for l in configuration["Layers"]] == [arn]
    assert configuration["Layers"][0]["CodeSize"] == len(packaging.pillow_layer_zip_for("3.12"))  # Pillow for Python 3.12
    answer, error = emulator.invoke(name, region=region)
    assert error is None, answer
    assert answer["file"].endswith("/opt/python/PIL/__init__.py")  # from the layer (exactly that path in the sandbox)
    assert answer["version"] == PIL.__version__ and answer["size"] == [20, 15]


@pytest.mark.emulator
def test_another_accounts_unknown_layer_is_still_refused(emulator):
    lam = emulator.client("lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        emulator.deploy("def lambda_handler(e, c):\n    return 1\n",
                        Layers=["arn:aws:lambda:us-east-1:770693421928:layer:Klayers-p312-numpy:1"])


def _wheel(path: Path, module: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("PIL/__init__.py", module)
    return path


def test_a_layer_zip_is_built_once_per_wheel_and_again_when_the_wheel_changes(tmp_path, monkeypatch):
    """Every kernel and emulator reads the same zip from next to the wheel; a newer wheel is unpacked again."""
    wheel = _wheel(tmp_path / "pillow-1.0-cp312-cp312-manylinux_2_28_x86_64.whl", "VERSION = 1\n")
    first = packaging.cached_layer_zip_from_wheel(wheel)
    assert first == packaging.layer_zip_from_wheel(wheel)
    assert zipfile.ZipFile(io.BytesIO(first)).read("python/PIL/__init__.py") == b"VERSION = 1\n"

    builds = []
    monkeypatch.setattr(packaging, "layer_zip_from_wheel", lambda w: builds.append(w) or b"rebuilt")
    assert packaging.cached_layer_zip_from_wheel(wheel) == first and builds == []  # read back, not rebuilt

    _wheel(wheel, "VERSION = 2\n")
    later = packaging.layer_zip_cache(wheel).stat().st_mtime + 10
    os.utime(wheel, (later, later))
    assert packaging.cached_layer_zip_from_wheel(wheel) == b"rebuilt" and builds == [wheel]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_a_layer_from_a_wheel_carries_the_bytecode_pip_would_compile_and_its_python_loads_it(tmp_path):
    """pip byte-compiles what ``pip install --target python/`` installs; a cold start then loads Pillow, not compiles it."""
    from walkthrough.emulator import interpreters

    interpreter = interpreters.for_runtime("python3.12")
    if not interpreter.exact:
        pytest.skip("no Python 3.12 on this machine: the layer is built without bytecode, as the test expects nothing")
    wheel = _wheel(tmp_path / "pillow-1.0-cp312-cp312-manylinux_2_28_x86_64.whl", "VERSION = 1\n")
    content = packaging.layer_zip_from_wheel(wheel)
    assert content == packaging.layer_zip_from_wheel(wheel)  # still reproducible
    opt = tmp_path / "opt"
    zipfile.ZipFile(io.BytesIO(content)).extractall(opt)
    assert (opt / "python/PIL/__pycache__/__init__.cpython-312.pyc").is_file()
    later = time.time() + 3600  # unzipping sets other file times: hash-checked bytecode does not mind
    os.utime(opt / "python/PIL/__init__.py", (later, later))
    loaded = subprocess.run([interpreter.path, "-I", "-v", "-c", f"import sys; sys.path.insert(0, {str(opt / 'python')!r}); import PIL"],
                            capture_output=True, text=True, timeout=60)
    assert "code object from '" + str(opt / "python/PIL/__pycache__/__init__.cpython-312.pyc") in loaded.stderr, loaded.stderr[-2000:]
