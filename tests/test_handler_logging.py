"""Logging through Python's ``logging``, in Lambda's Text and JSON log formats.

Two halves. The function itself (loaded in fresh interpreters, since logging is
configured when the module is imported): it logs through ``logging`` with its
facts as extra fields, leaves a Lambda runtime's configuration alone, and
configures logging itself outside Lambda. The emulator: a function's
``LoggingConfig`` (``LogFormat``, ``ApplicationLogLevel``, ``SystemLogLevel``)
is stored, answered and honoured the way Lambda and its Python runtime
(awslambdaric) do, and the tutorial's function, deployed with JSON logs, writes
one JSON record per image.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from tests.emulator_helpers import eventually, unique_settings

try:
    from . import handler_helpers as h
except ImportError:
    import handler_helpers as h

TIMESTAMP_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")  # awslambdaric's _DATETIME_FORMAT
TIME_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


# --------------------------------------------------------------------------
# The function's logging, outside and inside a Lambda runtime
# --------------------------------------------------------------------------

# Logs one "ignored" record: a record the function must ignore needs no AWS call.
_RUN_FUNCTION = """
import importlib.util, logging, sys
{before}
spec = importlib.util.spec_from_file_location("lambda_function", {path!r})
module = importlib.util.module_from_spec(spec)
sys.modules["lambda_function"] = module
spec.loader.exec_module(module)
print("root handlers after import:", [type(h).__name__ for h in logging.getLogger().handlers])
module.lambda_handler({{"Records": [{{"eventName": "ObjectRemoved:Delete"}}]}}, None)
"""


def _run_function(before: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_LAMBDA_")}
    environment.update(PROCESSED_BUCKET=h.PROCESSED, METADATA_TABLE=h.TABLE, **env)
    script = _RUN_FUNCTION.format(before=textwrap.dedent(before), path=str(h.HANDLER_PATH))
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment, timeout=120, check=True)


def test_outside_lambda_the_function_configures_logging_and_its_records_show():
    """Nothing configured logging (a script, a notebook): the function's INFO records still reach stderr."""
    result = _run_function()
    assert "[INFO]" in result.stderr and "ignored a ObjectRemoved:Delete record" in result.stderr
    assert "ignored" not in result.stdout  # logging, not print


def test_a_runtimes_logging_is_left_alone():
    """awslambdaric's bootstrap.py ``_setup_logging`` puts its handler on the root logger before importing
    the handler module; the function must not add another (no basicConfig) and its records go to that handler."""
    result = _run_function(before="""
        import sys
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("RUNTIME %(levelname)s %(message)s"))
        logging.getLogger().addHandler(handler)
    """)
    assert "root handlers after import: ['StreamHandler']" in result.stdout
    assert "RUNTIME INFO ignored a ObjectRemoved:Delete record" in result.stdout
    assert result.stderr == ""


def test_the_application_log_level_decides_when_lambda_sets_one():
    """awslambdaric bootstrap.py: with ``AWS_LAMBDA_LOG_LEVEL`` (the JSON format's application log level) the
    runtime sets the root logger's level, and the function must not override it; without it (Text format) the
    root logger stays at WARNING and the function's INFO records must still show."""
    runtime = """
        import sys
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("RUNTIME %(levelname)s %(message)s"))
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel({level!r})
    """
    filtered = _run_function(before=runtime.format(level="WARNING"), AWS_LAMBDA_LOG_LEVEL="WARN")
    assert "ignored a" not in filtered.stdout
    text_format = _run_function(before=runtime.format(level="WARNING"))
    assert "RUNTIME INFO ignored a ObjectRemoved:Delete record" in text_format.stdout


# --------------------------------------------------------------------------
# The emulator honours LoggingConfig
# --------------------------------------------------------------------------

LOGGING_HANDLER = '''
import logging
logger = logging.getLogger()

def lambda_handler(event, context):
    logger.info("resized", extra={"key": "photo.jpg", "ms": 12.5, "width": 400})
    logger.debug("only at DEBUG")
    logger.warning("careful")
    print("a plain print")
    if event.get("fail"):
        raise ValueError("it broke")
    return "ok"
'''


def _json_lines(messages: list[str]) -> list[dict]:
    return [json.loads(m) for m in messages if m.startswith("{")]


def _messages(emulator, name: str, invocations: int) -> list[str]:
    """The function's log once every invocation has its report (either format)."""

    def complete():
        messages = emulator.log_messages(name)
        reports = [m for m in messages if m.startswith("REPORT") or '"platform.report"' in m]
        return messages if len(reports) >= invocations else None

    return eventually(complete)


@pytest.mark.emulator
def test_logging_config_is_stored_and_answered(emulator):
    """Lambda API GetFunctionConfiguration: ``LoggingConfig`` is always answered, ``LogFormat`` Text with the
    default ``LogGroup``; with JSON, ``ApplicationLogLevel`` and ``SystemLogLevel`` default to INFO. moto 5.2.5
    drops it (moto_hooks.keep_logging_config keeps it)."""
    lam = emulator.client("lambda")
    plain = emulator.deploy(LOGGING_HANDLER)
    assert lam.get_function_configuration(FunctionName=plain)["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{plain}"}
    structured = emulator.deploy(LOGGING_HANDLER, LoggingConfig={"LogFormat": "JSON"})
    assert lam.get_function(FunctionName=structured)["Configuration"]["LoggingConfig"] == {
        "LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO", "LogGroup": f"/aws/lambda/{structured}",
    }
    lam.update_function_configuration(FunctionName=structured, LoggingConfig={"ApplicationLogLevel": "WARN"})
    assert lam.get_function_configuration(FunctionName=structured)["LoggingConfig"]["ApplicationLogLevel"] == "WARN"
    lam.update_function_configuration(FunctionName=structured, LoggingConfig={"LogFormat": "Text"})
    assert lam.get_function_configuration(FunctionName=structured)["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{structured}"}


@pytest.mark.emulator
def test_json_format_writes_records_with_timestamp_level_request_id_and_extra_fields(emulator):
    """awslambdaric lambda_runtime_log_utils.JsonFormatter: ``timestamp`` (``%Y-%m-%dT%H:%M:%SZ``), ``level``,
    ``message``, ``logger``, ``requestId``, then the record's extra fields; bootstrap.py sets the root level from
    AWS_LAMBDA_LOG_LEVEL (INFO: DEBUG is dropped). Lambda's JSON system log (Telemetry API schema):
    ``{"time", "type": "platform.start", "record": {"requestId", "version"}}`` and ``platform.report`` with
    ``record.metrics`` (durationMs, billedDurationMs, memorySizeMB, maxMemoryUsedMB, initDurationMs on a cold
    start) and ``status``; no START/END/REPORT text lines. A print has no level and is kept at INFO."""
    name = emulator.deploy(LOGGING_HANDLER, LoggingConfig={"LogFormat": "JSON"}, MemorySize=256)
    assert emulator.invoke(name) == ("ok", None)
    messages = _messages(emulator, name, 1)
    assert not any(m.startswith(("START", "END", "REPORT")) for m in messages)
    start, *function, report = messages
    start, report = json.loads(start), json.loads(report)
    assert start["type"] == "platform.start" and TIME_MILLIS.match(start["time"])
    request_id = start["record"]["requestId"]
    assert UUID.match(request_id) and start["record"]["version"] == "$LATEST"

    records = _json_lines(function)
    resized = next(r for r in records if r["message"] == "resized")
    assert TIMESTAMP_SECONDS.match(resized["timestamp"])
    assert {k: resized[k] for k in ("level", "logger", "requestId", "key", "ms", "width")} == {
        "level": "INFO", "logger": "root", "requestId": request_id, "key": "photo.jpg", "ms": 12.5, "width": 400,
    }
    assert not {"msg", "args", "levelno", "pathname", "lineno", "stackTrace", "errorType"} & resized.keys()
    assert next(r for r in records if r["message"] == "careful")["level"] == "WARNING"
    assert "only at DEBUG" not in "\n".join(messages)
    assert "a plain print" in function

    assert report["type"] == "platform.report" and report["record"]["requestId"] == request_id
    assert report["record"]["status"] == "success"
    metrics = report["record"]["metrics"]
    assert set(metrics) == {"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB", "initDurationMs"}
    assert metrics["memorySizeMB"] == 256 and metrics["billedDurationMs"] >= metrics["durationMs"]


@pytest.mark.emulator
def test_application_log_level_filters_records_and_prints(emulator):
    """Lambda log-level filtering: at ApplicationLogLevel WARN, INFO records and lines without a level (a
    print counts as INFO) are not sent; WARNING ones are. The uncaught error is written by awslambdaric's
    ``log_error`` as one JSON object with ``log_level`` ERROR, errorType, errorMessage, requestId, stackTrace."""
    name = emulator.deploy(LOGGING_HANDLER, LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "WARN"})
    result, error = emulator.invoke(name, {"fail": True})
    assert error == "Unhandled" and result["errorType"] == "ValueError"
    messages = _messages(emulator, name, 1)
    text = "\n".join(messages)
    assert "resized" not in text and "a plain print" not in text and "careful" in text
    failure = next(r for r in _json_lines(messages) if r.get("log_level") == "ERROR")
    assert failure["errorType"] == "ValueError" and failure["errorMessage"] == "it broke"
    assert failure["requestId"] == json.loads(messages[0])["record"]["requestId"]
    assert any("lambda_function.py" in frame for frame in failure["stackTrace"])
    report = json.loads(messages[-1])
    assert report["record"]["status"] == "failure" and report["record"]["errorType"] == "ValueError"


@pytest.mark.emulator
def test_system_log_level_warn_leaves_out_start_and_report(emulator):
    """Lambda log-level filtering for system logs: platform.start and platform.report are INFO events, so at
    SystemLogLevel WARN neither is sent."""
    name = emulator.deploy(LOGGING_HANDLER, LoggingConfig={"LogFormat": "JSON", "SystemLogLevel": "WARN"})
    assert emulator.invoke(name) == ("ok", None)
    messages = eventually(lambda: (m := emulator.log_messages(name)) and any("careful" in x for x in m) and m)
    assert not any('"platform.' in m for m in messages)


@pytest.mark.emulator
def test_text_format_is_readable_lines_as_on_lambda(emulator):
    """awslambdaric bootstrap.py, Text: ``[%(levelname)s]\\t%(asctime)s.%(msecs)03dZ\\t%(aws_request_id)s\\t%(message)s``;
    the root logger stays at WARNING without AWS_LAMBDA_LOG_LEVEL, so a root-logger INFO record is not shown;
    the platform writes START, END and REPORT lines."""
    name = emulator.deploy(LOGGING_HANDLER)
    assert emulator.invoke(name) == ("ok", None)
    messages = _messages(emulator, name, 1)
    request_id = messages[0].split()[2]
    assert messages[0] == f"START RequestId: {request_id} Version: $LATEST"
    warning = next(m for m in messages if "careful" in m)
    level, stamp, rid, message = warning.split("\t")
    assert (level, rid, message) == ("[WARNING]", request_id, "careful") and TIME_MILLIS.match(stamp)
    assert "resized" not in "\n".join(messages)
    assert any(m.startswith(f"END RequestId: {request_id}") for m in messages)
    assert messages[-1].startswith(f"REPORT RequestId: {request_id}\tDuration: ")


@pytest.mark.emulator
def test_the_tutorial_function_writes_one_json_record_per_image(emulator):
    """The function deployed as step 4 deploys it (``LoggingConfig`` JSON, INFO): each image is one JSON record
    with Lambda's fields (awslambdaric JsonFormatter) and the function's (key, outcome, sizes, ms), and the
    invocation's platform.start and platform.report carry the same requestId."""
    from walkthrough import lambda_fn, pipeline, sequence

    settings = unique_settings(emulator.endpoint, "us-east-1")
    sequence.ensure_before(settings, 6, max_dimension=200)
    assert lambda_fn.describe_function(settings)["logging"] == "JSON (application INFO, system INFO)"
    assert pipeline.process(settings, h.PHOTO_PATH)["status"] == "processed"
    records = eventually(lambda: (r := lambda_fn.log_records(settings, key="photo.jpg")) and r[-1].get("type") == "platform.report" and r)
    start, report = records[0], records[-1]
    assert start["type"] == "platform.start" and report["type"] == "platform.report"
    [image] = [r for r in records if r.get("key") == "photo.jpg"]
    assert image["requestId"] == start["record"]["requestId"] == report["record"]["requestId"]
    assert image["level"] == "INFO" and image["logger"] == "lambda_function" and TIMESTAMP_SECONDS.match(image["timestamp"])
    assert (image["key"], image["outcome"], image["output_key"], image["width"]) == ("photo.jpg", "processed", "processed-photo.jpg", 200)
    assert image["source_size"] == h.PHOTO_PATH.stat().st_size and image["ms"] > 0
    assert image["message"].startswith("processed 'photo.jpg' -> 'processed-photo.jpg'")
    # The emulator's AWS_ENDPOINT_URL stays invisible: botocore's "Found endpoint for s3 via" INFO line is not logged.
    assert not any(str(r.get("message", "")).startswith("Found endpoint for") for r in lambda_fn.log_records(settings))
