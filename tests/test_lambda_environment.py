"""A function runs in an execution environment shaped like Lambda's Python runtime.

Sources: the runtime environment and its variables
(https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html,
https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime),
the Python search path and runtime-included libraries
(https://docs.aws.amazon.com/lambda/latest/dg/python-package.html), ephemeral storage
(https://docs.aws.amazon.com/lambda/latest/dg/configuration-ephemeral-storage.html), and
awslambdaric's source (``bootstrap.py``: ``Unable to import module``, the slash handler;
``lambda_runtime_marshaller.py``: Decimal; ``lambda_context.py``: identity, client_context).
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from walkthrough import packaging
from walkthrough.emulator import interpreters, sandbox

pytestmark = pytest.mark.emulator

PYTHON312 = interpreters.for_runtime("python3.12")
needs_312 = pytest.mark.skipif(not PYTHON312.exact, reason="no Python 3.12 on this machine: functions run on the emulator's Python")
needs_sandbox = pytest.mark.skipif(sandbox.bubblewrap() is None, reason="bubblewrap is not installed: no Lambda filesystem")

PROBE = '''
import json, os, sys
def lambda_handler(event, context):
    return {"version": "%d.%d" % sys.version_info[:2], "cwd": os.getcwd(), "path": sys.path,
            "env": {k: os.environ.get(k) for k in event.get("env", [])}}
'''

IMPORTS = '''
def lambda_handler(event, context):
    found = {}
    for name in event["modules"]:
        try:
            __import__(name)
            found[name] = True
        except ImportError:
            found[name] = False
    return found
'''


def layer(emulator, files: dict[str, bytes], name: str | None = None) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return emulator.client("lambda").publish_layer_version(
        LayerName=name or emulator.unique("layer"), Content={"ZipFile": buffer.getvalue()})["LayerVersionArn"]


@needs_312
def test_a_python312_function_runs_on_python_312(emulator):
    name = emulator.deploy(PROBE)
    answer, error = emulator.invoke(name, {})
    assert error is None and answer["version"] == "3.12"
    assert emulator.health()["runtimes"]["python3.12"]["exact"] is True


def test_only_the_runtimes_packages_are_importable(emulator):
    """boto3 is in Lambda's Python runtime; Pillow, moto, yaml and this project are not."""
    name = emulator.deploy(IMPORTS)
    answer, error = emulator.invoke(name, {"modules": ["boto3", "botocore", "json", "PIL", "moto", "yaml", "walkthrough", "pytest"]})
    assert error is None
    assert answer == {"boto3": True, "botocore": True, "json": True, "PIL": False, "moto": False, "yaml": False,
                      "walkthrough": False, "pytest": False}


def test_pillow_without_a_layer_fails_with_lambdas_import_error(emulator):
    name = emulator.deploy("import PIL.Image\n\ndef lambda_handler(event, context):\n    return 1\n")
    answer, error = emulator.invoke(name, {})
    assert error == "Unhandled"
    assert answer["errorType"] == "Runtime.ImportModuleError"
    assert answer["errorMessage"] == "Unable to import module 'lambda_function': No module named 'PIL'"


@needs_312
def test_a_layer_built_for_another_python_fails_and_one_built_as_aws_documents_works(emulator):
    source = "from PIL import Image\n\ndef lambda_handler(event, context):\n    return Image.new('RGB', (8, 4)).size\n"
    wrong = layer(emulator, _entries(packaging.pillow_layer_zip_for("3.11")))  # this machine's Pillow, built for 3.11
    name = emulator.deploy(source, Layers=[wrong], MemorySize=512)
    answer, error = emulator.invoke(name, {})
    assert error == "Unhandled" and answer["errorType"] == "Runtime.ImportModuleError"
    assert "cannot import name '_imaging'" in answer["errorMessage"]
    right = layer(emulator, _entries(packaging.build_pillow_layer_zip("x86_64", "3.12")[0]))
    name = emulator.deploy(source, Layers=[right], MemorySize=512)
    assert emulator.invoke(name, {}) == ([8, 4], None)


def _entries(content: bytes) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(content))
    return {n: archive.read(n) for n in archive.namelist()}


@needs_sandbox
def test_the_code_is_read_only_at_var_task_and_layers_are_at_opt(emulator):
    fonts = layer(emulator, {"fonts/DejaVu.txt": b"a font, shipped in a layer"})
    source = '''
import os
def lambda_handler(event, context):
    try:
        open("output.jpg", "wb").write(b"x")
        wrote = "yes"
    except OSError as exc:
        wrote = str(exc)
    return {"task": os.environ["LAMBDA_TASK_ROOT"], "cwd": os.getcwd(), "wrote": wrote,
            "font": open("/opt/fonts/DejaVu.txt").read(), "code": sorted(os.listdir("/var/task"))}
'''
    name = emulator.deploy(source, Layers=[fonts])
    answer, error = emulator.invoke(name, {})
    assert error is None
    assert answer["task"] == answer["cwd"] == "/var/task"
    assert answer["wrote"] == "[Errno 30] Read-only file system: 'output.jpg'"
    assert answer["font"] == "a font, shipped in a layer" and answer["code"] == ["lambda_function.py"]


@needs_sandbox
def test_tmp_is_private_to_each_environment_and_limited_to_its_ephemeral_storage(emulator, tmp_path):
    (tmp_path / "host-secret.txt").write_text("the host's")
    source = '''
import os
def lambda_handler(event, context):
    if event.get("write"):
        open("/tmp/" + event["write"], "w").write("mine")
    left = None
    if event.get("fill_mb"):
        block = b"x" * (1024 * 1024)
        try:
            with open("/tmp/fill", "wb") as out:
                for _ in range(event["fill_mb"]):
                    out.write(block)
        except OSError as exc:
            left = str(exc)
        os.remove("/tmp/fill")
    return {"tmp": sorted(os.listdir("/tmp")), "full": left}
'''
    first = emulator.deploy(source)
    second = emulator.deploy(source)
    assert emulator.invoke(first, {"write": "first.txt"})[0]["tmp"] == ["first.txt"]
    assert emulator.invoke(second, {})[0]["tmp"] == []  # neither another function's files nor the host's
    assert emulator.invoke(first, {})[0]["tmp"] == ["first.txt"]  # kept while the environment is warm
    answer, error = emulator.invoke(first, {"fill_mb": 600})  # EphemeralStorage 512 MB, the default
    assert error is None and answer["full"] == "[Errno 28] No space left on device"
    roomy = emulator.deploy(source, EphemeralStorage={"Size": 1024})
    assert emulator.invoke(roomy, {"fill_mb": 600})[0]["full"] is None


def test_lambdas_environment_variables(emulator):
    wanted = ["AWS_LAMBDA_INITIALIZATION_TYPE", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "PYTHONPATH", "LD_LIBRARY_PATH",
              "PATH", "TZ", "LANG", "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
    name = emulator.deploy(PROBE, MemorySize=256)
    answer, error = emulator.invoke(name, {"env": wanted})
    assert error is None
    env = answer["env"]
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["TZ"] == ":UTC" and env["LANG"] == "en_US.UTF-8" and env["_HANDLER"] == "lambda_function.lambda_handler"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12" and env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    assert env["PYTHONPATH"] == env["LAMBDA_RUNTIME_DIR"]
    assert env["LD_LIBRARY_PATH"].split(":")[1:3] == ["/lib64", "/usr/lib64"]
    if sandbox.bubblewrap():
        assert env["LAMBDA_TASK_ROOT"] == "/var/task" and env["LAMBDA_RUNTIME_DIR"] == "/var/runtime"
        assert env["PATH"] == "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"
        assert env["LD_LIBRARY_PATH"] == ("/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:"
                                          "/var/task:/var/task/lib:/opt/lib")
        assert answer["path"][:4] == ["/var/task", "/opt/python/lib/python3.12/site-packages", "/opt/python", "/var/runtime"]


def test_the_slash_form_of_the_handler_names_a_module_in_a_folder(emulator):
    from tests.emulator_helpers import zip_files

    lam = emulator.client("lambda")
    name = emulator.unique("slash")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=emulator.role(), Handler="src/app.handler",
                        Code={"ZipFile": zip_files({"src/__init__.py": "", "src/app.py": "def handler(e, c):\n    return __name__\n"})})
    assert emulator.invoke(name, {}) == ("src.app", None)


def test_a_decimal_in_the_response_is_serialized_as_lambda_does(emulator):
    """A DynamoDB item (numbers are Decimal) returned as is; awslambdaric writes each Decimal as its digits."""
    source = "from decimal import Decimal\n\ndef lambda_handler(e, c):\n    return {'size': Decimal('78792'), 'ratio': Decimal('0.25'), 'name': 'café'}\n"
    name = emulator.deploy(source)
    response = emulator.client("lambda").invoke(FunctionName=name, Payload=b"{}")
    assert "FunctionError" not in response
    assert response["Payload"].read().decode() == '{"size": 78792, "ratio": 0.25, "name": "café"}'


def test_invoking_a_published_version_runs_that_version(emulator):
    lam = emulator.client("lambda")
    name = emulator.deploy("def lambda_handler(e, c):\n    return 'one'\n")
    version = lam.publish_version(FunctionName=name)["Version"]
    from tests.emulator_helpers import zip_files

    lam.update_function_code(FunctionName=name, ZipFile=zip_files({"lambda_function.py": "def lambda_handler(e, c):\n    return 'two'\n"}))
    latest = lam.invoke(FunctionName=name, Payload=b"{}")
    pinned = lam.invoke(FunctionName=name, Qualifier=version, Payload=b"{}")
    assert json.loads(latest["Payload"].read()) == "two" and latest["ExecutedVersion"] == "$LATEST"
    assert json.loads(pinned["Payload"].read()) == "one" and pinned["ExecutedVersion"] == version


def test_identity_and_client_context_as_awslambdaric_builds_them(emulator):
    source = '''
def lambda_handler(event, context):
    client = context.client_context
    return {"identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
            "custom": client.custom if client else None, "app": client.client.app_title if client and client.client else None,
            "arn": context.invoked_function_arn}
'''
    name = emulator.deploy(source)
    lam = emulator.client("lambda")
    plain = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    assert plain["identity"] == [None, None] and plain["custom"] is None
    context = base64.b64encode(json.dumps({"custom": {"k": "v"}, "client": {"app_title": "Photos"}}).encode()).decode()
    given = json.loads(lam.invoke(FunctionName=name, Payload=b"{}", ClientContext=context)["Payload"].read())
    assert given["custom"] == {"k": "v"} and given["app"] == "Photos"


def test_the_emulator_says_which_python_and_sandbox_it_uses(emulator):
    health = emulator.health()
    assert set(health["runtimes"]) >= {"python3.11", "python3.12", "python3.13"}
    assert health["sandbox"] == ("bubblewrap" if sandbox.bubblewrap() else sandbox.fallback_reason())


def test_status_names_the_python_of_each_runtime(emulator, capsys):
    from walkthrough.__main__ import main

    assert main(["emulator", "status", "--port", str(emulator.port)]) == 0
    out = capsys.readouterr().out
    serving = interpreters.for_runtime("python3.12")
    assert (serving.warning or f"python3.12: Python {serving.version} ({serving.path})") in out.splitlines()


def test_without_a_sandbox_or_the_runtimes_python_the_log_says_so_once(tmp_path, monkeypatch):
    """The fallback still runs the function, and its log says in one line each what is not as on Lambda."""
    from tests.emulator_helpers import EmulatorHandle
    from walkthrough.emulator import lifecycle

    monkeypatch.setenv("WALKTHROUGH_EMULATOR_SANDBOX", "off")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "no-uv"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("WALKTHROUGH_PYTHON_3_12", str(tmp_path / "missing-python"))
    port = lifecycle.free_port()
    info = lifecycle.start(port)
    try:
        emulator = EmulatorHandle(info.endpoint, port)
        source = "import os\n\ndef lambda_handler(e, c):\n    open(os.environ['TMPDIR'] + '/x', 'w').write('ok')\n    return 'ran'\n"
        name = emulator.deploy(source)
        assert emulator.invoke(name, {}) == ("ran", None)
        assert emulator.invoke(name, {}) == ("ran", None)
        messages = emulator.log_messages(name)
        warnings = [m for m in messages if m.startswith("WARNING walkthrough emulator")]
        assert len(warnings) == (1 if __import__("sys").version_info[:2] == (3, 12) else 2)  # once: the cold start
        assert any("no sandbox (turned off by WALKTHROUGH_EMULATOR_SANDBOX)" in w for w in warnings)
        if __import__("sys").version_info[:2] != (3, 12):
            assert any("python3.12 runs on Python 3.11 here (no Python 3.12 found)" in w for w in warnings)
        assert "not" in emulator.health()["sandbox"]
    finally:
        lifecycle.stop(port)


class _Installed:
    """A distribution as importlib.metadata gives it: only its RECORD is read."""

    def __init__(self, record: str) -> None:
        self.record = record

    def read_text(self, name: str) -> str:
        return self.record


def test_every_venv_with_the_same_runtime_packages_shares_one_runtime_folder(tmp_path, monkeypatch):
    """A new clone's venv (another path, other file times) reuses the folder; other package files get their own.

    By path and time, each clone and reinstall built a 36 MB folder of its own under ~/.cache/walkthrough/runtime.
    """
    import six

    here = Path(six.__file__)
    elsewhere = tmp_path / "other-venv" / "six.py"
    elsewhere.parent.mkdir()
    shutil.copy(here, elsewhere)
    os.utime(elsewhere, ns=(1, 1))
    fingerprint = sandbox._fingerprint.__wrapped__  # not the process's cached answer
    assert fingerprint((("six", here),)) == fingerprint((("six", elsewhere),))

    record = "six.py,sha256=one,100\nsix-1.17.0.dist-info/INSTALLER,sha256=uv,3\n__pycache__/six.cpython-312.pyc,sha256=t,9\n"
    monkeypatch.setattr(sandbox.importlib.metadata, "distribution", lambda name: _Installed(record))
    first = fingerprint((("six", here),))
    installer_and_bytecode_differ = record.replace("sha256=uv", "sha256=pip").replace("sha256=t,", "sha256=u,")
    monkeypatch.setattr(sandbox.importlib.metadata, "distribution", lambda name: _Installed(installer_and_bytecode_differ))
    assert fingerprint((("six", here),)) == first
    monkeypatch.setattr(sandbox.importlib.metadata, "distribution", lambda name: _Installed(record.replace("sha256=one", "sha256=two")))
    assert fingerprint((("six", here),)) != first
