"""The Docker-free Lambda runtime, seen through the Lambda and CloudWatch Logs APIs."""

from __future__ import annotations

import json

import pytest

from tests.emulator_helpers import eventually, zip_files

pytestmark = pytest.mark.emulator

ENV_HANDLER = '''
import os
def lambda_handler(event, context):
    names = ["AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION", "_HANDLER",
             "LAMBDA_TASK_ROOT", "GREETING", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID"]
    return {
        "env": {n: os.environ.get(n) for n in names},
        "cwd": os.getcwd(),
        "context": {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
        "event": event,
    }
'''


def test_handler_sees_lambda_environment_and_context(emulator):
    name = emulator.deploy(ENV_HANDLER, region="eu-west-1", MemorySize=256, Timeout=7, Environment={"Variables": {"GREETING": "hej"}})
    result, error = emulator.invoke(name, {"hello": "world"}, region="eu-west-1")
    assert error is None
    env = result["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_REGION"] == "eu-west-1"
    assert env["_HANDLER"] == "lambda_function.lambda_handler"
    assert env["GREETING"] == "hej"
    assert env["AWS_ENDPOINT_URL"] == emulator.endpoint  # the function's boto3 calls come back to the emulator
    assert result["cwd"] == env["LAMBDA_TASK_ROOT"]
    context = result["context"]
    assert context["function_name"] == name and context["memory_limit_in_mb"] == "256"
    assert context["invoked_function_arn"].endswith(f":function:{name}")
    assert context["log_group_name"] == f"/aws/lambda/{name}"
    assert 0 < context["remaining_ms"] <= 7000
    assert result["event"] == {"hello": "world"}


def test_layers_are_importable_and_come_before_installed_packages(emulator):
    lam = emulator.client("lambda")
    layer = lam.publish_layer_version(
        LayerName=emulator.unique("layer"),
        Content={"ZipFile": zip_files({"python/layered_module.py": "ANSWER = 42\n", "python/tqdm/__init__.py": "FROM_LAYER = True\n"})},
        CompatibleRuntimes=["python3.12"],
    )["LayerVersionArn"]
    source = "import layered_module, tqdm\ndef lambda_handler(e, c):\n    return [layered_module.ANSWER, getattr(tqdm, 'FROM_LAYER', False)]\n"
    name = emulator.deploy(source, Layers=[layer])
    assert emulator.invoke(name) == ([42, True], None)


def test_timeout_is_enforced_with_lambdas_message(emulator):
    name = emulator.deploy("import time\ndef lambda_handler(e, c):\n    time.sleep(5)\n", Timeout=1)
    result, error = emulator.invoke(name)
    assert error == "Unhandled"
    assert "Task timed out after 1.0" in result["errorMessage"]
    logs = eventually(lambda: [m for m in emulator.log_messages(name) if "Task timed out" in m])
    assert logs


def test_handler_exception_returns_lambdas_error_payload(emulator):
    name = emulator.deploy("def lambda_handler(e, c):\n    raise KeyError('missing-thing')\n")
    result, error = emulator.invoke(name)
    assert error == "Unhandled"
    assert result["errorType"] == "KeyError"
    assert "missing-thing" in result["errorMessage"]
    assert any("lambda_function.py" in frame for frame in result["stackTrace"])


def test_import_error_is_reported_as_lambda_does(emulator):
    name = emulator.deploy("import not_a_module_anywhere\ndef lambda_handler(e, c):\n    return 1\n")
    result, error = emulator.invoke(name)
    assert error == "Unhandled"
    assert result["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'lambda_function'" in result["errorMessage"]


def test_logs_have_start_end_report_and_init_only_on_cold_start(emulator):
    name = emulator.deploy("def lambda_handler(e, c):\n    print('visible line', e['n'])\n    return e['n']\n")
    for n in (1, 2):
        assert emulator.invoke(name, {"n": n}) == (n, None)

    def both_reports():
        messages = emulator.log_messages(name)
        return messages if sum(m.startswith("REPORT") for m in messages) == 2 else None

    messages = both_reports() or eventually(both_reports)
    reports = [m for m in messages if m.startswith("REPORT")]
    assert [m.startswith("START RequestId: ") for m in messages].count(True) == 2
    assert any(m.startswith("END RequestId: ") for m in messages)
    assert "visible line 1" in messages and "visible line 2" in messages
    for report in reports:
        assert "Duration: " in report and "Billed Duration: " in report and "Max Memory Used: " in report
    assert "Init Duration" in reports[0] and "Init Duration" not in reports[1]


def test_worker_stays_warm_and_is_replaced_when_configuration_changes(emulator):
    source = "calls = 0\ndef lambda_handler(e, c):\n    global calls\n    calls += 1\n    return calls\n"
    name = emulator.deploy(source)
    assert [emulator.invoke(name)[0] for _ in range(3)] == [1, 2, 3]
    lam = emulator.client("lambda")
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"CHANGED": "yes"}})
    assert emulator.invoke(name)[0] == 1  # a fresh execution environment
    lam.update_function_code(FunctionName=name, ZipFile=zip_files({"lambda_function.py": source.replace("calls += 1", "calls += 10")}))
    assert emulator.invoke(name)[0] == 10


def test_memory_size_is_enforced(emulator):
    source = "def lambda_handler(e, c):\n    block = bytearray(400 * 1024 * 1024)\n    block[::4096] = b'x' * len(block[::4096])\n    return len(block)\n"
    name = emulator.deploy(source, MemorySize=128)
    result, error = emulator.invoke(name)
    assert error == "Unhandled"
    assert result["errorType"] == "Runtime.OutOfMemory"
    assert "Runtime exited with error" in result["errorMessage"]


def test_invoke_returns_log_tail_and_event_invocations_run_later(emulator):
    name = emulator.deploy("def lambda_handler(e, c):\n    print('tail me')\n    return 'ok'\n")
    lam = emulator.client("lambda")
    import base64

    response = lam.invoke(FunctionName=name, LogType="Tail")
    assert "tail me" in base64.b64decode(response["LogResult"]).decode()
    queued = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"async": True}).encode())
    assert queued["StatusCode"] == 202
    emulator.wait_idle()
    assert sum(m.startswith("START") for m in emulator.log_messages(name)) == 2
