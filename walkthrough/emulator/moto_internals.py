"""Every use of moto's internals, in one place: what the emulator patches in moto and what it reads from it.

moto provides the control planes, and has no public hook for what the
emulator adds. So, and only here:

- **patched**: ``LambdaFunction.invoke`` (every Invoke API call) runs the
  code in ``runtime.WorkerPool`` instead of Docker;
  ``s3.notifications._invoke_awslambda`` (called synchronously inside the
  upload) hands the event to the asynchronous queue, so the upload returns at
  once; ``LambdaBackend.layers_versions_by_arn`` resolves the public Klayers
  Pillow layer the document names (moto looks layers up in the caller's own
  account only); CloudFront's ``Origin.__init__`` keeps
  ``OriginAccessControlId`` and ``S3OriginConfig``, which moto 5.2 parses and
  then drops; CloudFront's ``DefaultCacheBehaviour.__init__`` gives legacy
  cache settings AWS's default TTLs (moto stores 0) and
  ``CloudFrontBackend.create_invalidation`` checks the paths, clears the edge
  cache (``on_invalidation``) and reports ``InProgress`` then ``Completed``;
  ``LambdaFunction``'s ``__init__``, ``update_configuration`` and
  ``get_configuration`` keep and answer ``LoggingConfig``, which moto 5.2
  ignores (Lambda's JSON log format and levels); ``IAMBackend._init_aws_policies``
  copies AWS managed policies built once per process instead of parsing
  moto's policy file at every reset; moto's own IAM authorization stays off
  (``INITIAL_NO_AUTH_ACTION_COUNT``), because it evaluates DynamoDB and Logs
  calls against resource ``*``, so a policy scoped to a table could never
  allow anything (``roles.py`` authorizes instead); and CloudFormation
  (installed at the first CloudFormation request, ``install_cloudformation``):
  the emulator's resource handlers (``cloudformation.py``) become moto's
  resource models for their types, through moto's own extension point
  (``CloudFormationModel`` subclasses, found by ``parsing.get_model_map``),
  and stacks roll back a failed creation, report a failed deletion, delete
  dependents first, honour ``DependsOn`` in change sets, record an event per
  resource and check the template first, as AWS's do;
- **read**: a function's configuration, zip and layers; its asynchronous
  settings; its role's policy documents, and credentials minted for the role
  in the STS backend (``sts:AssumeRole`` by a user on a role trusted only by
  ``lambda.amazonaws.com`` crashes moto's trust check); CloudFront
  distributions and origin access controls; API Gateway REST APIs; S3
  buckets' policy, Block Public Access and ACLs.

What leaves this module is plain data (frozen dataclasses of strings, tuples
and mappings), except the ``LambdaFunction`` that ``find_function`` returns
for ``spec_of``/``code_of``. ``INTERNALS`` lists every internal relied on;
``check_internals`` verifies them (``cloudformation_internals`` and
``check_cloudformation_internals`` for CloudFormation's, imported only when
used), and ``tests/test_moto_internals.py`` runs both, so a moto upgrade that
moves one fails naming it.
"""

from __future__ import annotations

import base64
import copy
import functools
import inspect
import json
import os
import re
import threading
import types
import uuid
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any, Callable, Mapping
from urllib.parse import unquote

# AWS managed policies (AmazonS3FullAccess, ...) exist only when moto loads them
# as its IAM backend is created, so this must be set before moto is imported.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
# moto's server answers every origin's CORS preflight with "allow all"; the emulator decides instead (origins.py).
os.environ["MOTO_DISABLE_GLOBAL_CORS"] = "true"
# moto's API Gateway imports openapi-spec-validator, hence jsonschema: without the IRI grammar it
# would compile (1.1 s of an emulator start's 2.4 s of CPU; see lean_imports).
import walkthrough.lean_imports  # noqa: E402,F401

import botocore.session  # noqa: E402

from walkthrough.botocore_data import shared_loader  # noqa: E402

# moto makes boto3 sessions of its own (three as its EC2 models load for CloudFormation, one for
# the backends' regions), and each new session parses botocore's files again: one loader for the
# emulator's process (0.45 s of CPU less at its first CloudFormation request).
botocore.session.create_loader = shared_loader

from moto import backends as moto_backends  # noqa: E402
from moto import settings as moto_settings  # noqa: E402
from moto.core import utils as moto_core_utils  # noqa: E402
from moto.apigateway import models as apigateway_models  # noqa: E402
from moto.awslambda import models as lambda_models  # noqa: E402
from moto.awslambda import responses as lambda_responses  # noqa: E402
from moto.awslambda.utils import get_backend as lambda_backend  # noqa: E402
from moto.cloudfront import models as cloudfront_models  # noqa: E402
from moto.cloudfront.exceptions import CloudFrontException  # noqa: E402
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.iam import models as iam_models  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: E402
from moto.s3 import models as s3_models  # noqa: E402
from moto.s3 import notifications as s3_notifications  # noqa: E402
from moto.s3control import models as s3control_models  # noqa: E402
from moto.sts import models as sts_models  # noqa: E402

from walkthrough.emulator.runtime import FunctionCode, FunctionSpec, InvocationResult, LoggingConfig  # noqa: E402
from walkthrough.emulator import interpreters  # noqa: E402
from walkthrough.packaging import code_sha256, pillow_layer_zip_for  # noqa: E402 - no AWS calls: safe in the emulator

#: Every internal the emulator relies on: (module or class, attribute, what for).
INTERNALS: list[tuple[Any, str, str]] = [
    (lambda_models.LambdaFunction, "invoke", "runs every Lambda invocation (patched)"),
    (lambda_models.LambdaFunction, "_get_layers_data", "validates a function's layers through layers_versions_by_arn"),
    (lambda_models.LambdaFunction, "update_configuration", "keeps a function's LoggingConfig (patched)"),
    (lambda_models.LambdaFunction, "get_configuration", "answers a function's LoggingConfig (patched)"),
    (lambda_models.LambdaBackend, "layers_versions_by_arn", "finds a layer version's zip; resolves Klayers' Pillow ARNs (patched)"),
    (lambda_models.LambdaBackend, "get_function", "finds the function an event names"),
    (lambda_responses.LambdaResponse, "invoke", "reads Invoke's Qualifier (patched: moto looks for 'qualifier')"),
    (lambda_models, "EventInvokeConfig", "a function's retry attempts, event age and destinations"),
    (s3_notifications, "_invoke_awslambda", "delivers S3 notifications to Lambda (patched)"),
    (s3_notifications, "send_event", "matches notification filters and builds S3 events"),
    (cloudfront_models, "cloudfront_backends", "finds CloudFront distributions and origin access controls"),
    (cloudfront_models.Origin, "__init__", "keeps an origin's OriginAccessControlId and S3OriginConfig (patched)"),
    (cloudfront_models.DefaultCacheBehaviour, "__init__", "gives legacy cache settings AWS's DefaultTTL and MaxTTL (patched)"),
    (cloudfront_models.CloudFrontBackend, "create_invalidation", "clears the edge cache, reports InProgress then Completed (patched)"),
    (apigateway_models, "apigateway_backends", "routes requests to a REST API's stages"),
    (apigateway_models.Resource, "get_path", "matches a request to an API resource"),
    (s3_models, "s3_backends", "reads a bucket's policy, Block Public Access and ACLs"),
    (s3_models, "FakeKey", "tells an object from a delete marker"),
    (s3control_models, "s3control_backends", "reads the account's Block Public Access"),
    (sts_models, "sts_backends", "mints a function's execution-role credentials"),
    (sts_models.STSBackend, "assume_role", "mints a function's execution-role credentials"),
    (iam_models, "iam_backends", "reads a function role's permission policies"),
    (iam_models.IAMBackend, "get_role_by_arn", "finds a function's execution role"),
    (iam_models.IAMBackend, "_init_aws_policies", "builds the AWS managed policies of each new IAM backend (patched: once per process)"),
    (iam_models, "get_account_id_from", "finds the account of a request's access key (patched: builds no backends)"),
    (iam_models, "PARTITION_NAMES", "the partitions an access key is looked for in"),
    (moto_settings, "load_iam_aws_managed_policies", "tells whether a new IAM backend gets AWS managed policies"),
    (moto_backends, "list_of_moto_modules", "moto's service folders, listed for every request (patched: once)"),
    (moto_core_utils, "create_loader", "moto's model loader, made for each model it loads (patched: one, kept)"),
    (moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", "keeps moto's own IAM authorization off"),
    (moto_settings, "DISABLE_GLOBAL_CORS", "keeps moto's allow-every-origin CORS off (origins.py decides)"),
    (DomainDispatcherApplication, "infer_service_region_host", "tells which service an unsigned request would reach"),
    (DomainDispatcherApplication, "get_backend_for_host", "tells which service an unsigned request would reach"),
]

#: The parameters the emulator's replacements must accept, in order: (function, expected leading parameters).
SIGNATURES: list[tuple[str, Callable[[], Any], list[str]]] = [
    ("LambdaFunction.invoke", lambda: _ORIGINAL["lambda_invoke"], ["self", "body", "request_headers", "response_headers"]),
    ("s3.notifications._invoke_awslambda", lambda: _ORIGINAL["s3_invoke"], ["account_id", "event_body", "fn_arn", "region_name"]),
    ("LambdaBackend.layers_versions_by_arn", lambda: _ORIGINAL["layers_by_arn"], ["self", "layer_version_arn"]),
    ("cloudfront.models.Origin.__init__", lambda: _ORIGINAL["origin_init"], ["self", "origin"]),
    ("cloudfront.models.DefaultCacheBehaviour.__init__", lambda: _ORIGINAL["behaviour_init"], ["self", "config"]),
    ("CloudFrontBackend.create_invalidation", lambda: _ORIGINAL["create_invalidation"], ["self", "dist_id", "paths", "caller_ref"]),
    ("IAMBackend._init_aws_policies", lambda: _ORIGINAL["init_aws_policies"], ["self"]),
    ("iam.models.get_account_id_from", lambda: _ORIGINAL["account_of_key"], ["access_key"]),
]

#: Attributes read from live backends of the default account: (what, backend factory, attributes).
BACKEND_ATTRIBUTES: list[tuple[str, Callable[[], Any], tuple[str, ...]]] = [
    ("CloudFrontBackend", lambda: cloudfront_models.cloudfront_backends[DEFAULT_ACCOUNT_ID]["aws"], ("distributions", "origin_access_controls", "invalidations")),
    ("APIGatewayBackend", lambda: apigateway_models.apigateway_backends[DEFAULT_ACCOUNT_ID]["us-east-1"], ("apis",)),
    ("S3Backend", lambda: s3_models.s3_backends[DEFAULT_ACCOUNT_ID]["aws"], ("get_bucket",)),
    ("S3ControlBackend", lambda: s3control_models.s3control_backends[DEFAULT_ACCOUNT_ID]["aws"], ("public_access_block",)),
    # verifying signatures made with keys from `iam create-access-key` and credentials from `sts assume-role`
    ("IAMBackend", lambda: iam_models.iam_backends[DEFAULT_ACCOUNT_ID]["aws"], ("access_keys",)),
    ("STSBackend", lambda: sts_models.sts_backends[DEFAULT_ACCOUNT_ID]["aws"], ("assumed_roles",)),
]

#: Attributes read from model instances (a missing one surfaces as ``MotoInternalsChanged`` naming it).
FUNCTION_ATTRIBUTES = (
    "function_name", "function_arn", "version", "handler", "run_time", "timeout", "memory_size",
    "environment_vars", "role", "code_sha_256", "code_bytes", "layers", "region", "account_id",
    "event_invoke_config", "reserved_concurrency", "ephemeral_storage",
)
DISTRIBUTION_ATTRIBUTES = ("distribution_id", "arn", "domain_name", "etag", "status", "distribution_config")
ORIGIN_ATTRIBUTES = ("id", "domain_name", "origin_path", "s3_access_identity")
BEHAVIOUR_ATTRIBUTES = ("target_origin_id", "viewer_protocol_policy", "allowed_methods", "cache_policy_id", "min_ttl",
                        "default_ttl", "max_ttl", "forwarded_values")
REST_API_ATTRIBUTES = ("id", "name", "resources", "stages", "binaryMediaTypes", "account_id", "region_name")
RESOURCE_ATTRIBUTES = ("id", "path_part", "resource_methods")
METHOD_ATTRIBUTES = ("http_method", "authorization_type", "api_key_required", "method_integration")
BUCKET_ATTRIBUTES = ("name", "account_id", "region_name", "policy", "public_access_block", "acl", "ownership_rule", "keys")
ROLE_ATTRIBUTES = ("arn", "policies", "managed_policies")
POLICY_VERSION_ATTRIBUTES = ("is_default", "document")
ASSUMED_ROLE_ATTRIBUTES = ("access_key_id", "secret_access_key", "session_token", "expiration", "arn")

#: Lambda's defaults for asynchronous invocations.
DEFAULT_MAX_RETRY_ATTEMPTS = 2
DEFAULT_MAX_EVENT_AGE_S = 21600
#: Klayers' Python 3.12 Pillow layer, any region and version (Klayers has spelt it Pillow and pillow).
PUBLIC_PILLOW_LAYER = re.compile(r"^arn:aws:lambda:([a-z0-9-]+):770693421928:layer:(Klayers-p312-pillow):(\d+)$", re.IGNORECASE)

#: moto's own functions, kept before the emulator replaces them (a replacement calls or checks the original).
_ORIGINAL: dict[str, Any] = {
    "lambda_invoke": getattr(lambda_models.LambdaFunction, "invoke", None),
    "s3_invoke": getattr(s3_notifications, "_invoke_awslambda", None),
    "layers_by_arn": getattr(lambda_models.LambdaBackend, "layers_versions_by_arn", None),
    "origin_init": getattr(cloudfront_models.Origin, "__init__", None),
    "behaviour_init": getattr(cloudfront_models.DefaultCacheBehaviour, "__init__", None),
    "create_invalidation": getattr(cloudfront_models.CloudFrontBackend, "create_invalidation", None),
    "init_aws_policies": getattr(iam_models.IAMBackend, "_init_aws_policies", None),
    "account_of_key": getattr(iam_models, "get_account_id_from", None),
}


class MotoInternalsChanged(RuntimeError):
    """A moto model no longer has an attribute the emulator reads (moto was upgraded)."""


def check_internals(function: Any | None = None) -> list[str]:
    """Names of the moto internals the emulator relies on that are missing or changed.

    With ``function`` (a live ``LambdaFunction`` whose role exists), also the
    attributes read from a function and its role, and minting credentials.
    """
    problems = [f"{getattr(owner, '__name__', owner)}.{name} ({why})" for owner, name, why in INTERNALS if not hasattr(owner, name)]
    for name, original, expected in SIGNATURES:
        target = original()
        if target is None:
            continue  # already reported as missing
        params = list(inspect.signature(target).parameters)
        if params[: len(expected)] != expected:
            problems.append(f"{name}{params} (expected {', '.join(expected)})")
    for what, backend, attributes in BACKEND_ATTRIBUTES:
        try:
            live = backend()
        except Exception as exc:  # noqa: BLE001 - report, do not crash the check
            problems.append(f"{what} ({exc})")
            continue
        problems += [f"{what}.{a}" for a in attributes if not hasattr(live, a)]
    if function is not None:
        problems += [f"LambdaFunction.{a}" for a in FUNCTION_ATTRIBUTES if not hasattr(function, a)]
        try:
            role = iam_models.iam_backends[function.account_id]["aws"].get_role_by_arn(function.role)
            problems += [f"Role.{a}" for a in ROLE_ATTRIBUTES if not hasattr(role, a)]
        except Exception as exc:  # noqa: BLE001
            problems.append(f"IAMBackend.get_role_by_arn ({exc})")
        try:
            mint_role_credentials(function.role, function.function_name, function.region)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"STSBackend.assume_role ({exc})")
    return problems


def _read(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name)
    except AttributeError:
        raise MotoInternalsChanged(f"moto {type(obj).__name__}.{name} is gone; the emulator needs it") from None


def _require(obj: Any, names: tuple[str, ...]) -> None:
    missing = [n for n in names if not hasattr(obj, n)]
    if missing:
        raise MotoInternalsChanged(f"moto {type(obj).__name__} lacks {', '.join(missing)}; the emulator needs them")


# --------------------------------------------------------------------------- Lambda functions


def spec_of(function: Any) -> FunctionSpec:
    """The identity of a moto function's execution environment."""
    return FunctionSpec(
        name=function.function_name,
        arn=function.function_arn,
        version=str(function.version),
        handler=function.handler or "lambda_function.lambda_handler",
        runtime=function.run_time or "python3.12",
        timeout_s=int(function.timeout),
        memory_mb=int(function.memory_size),
        environment=tuple(sorted((str(k), str(v)) for k, v in (function.environment_vars or {}).items())),
        role=function.role,
        code_sha256=function.code_sha_256,
        layer_arns=tuple(layer["Arn"] for layer in function.layers),
        region=function.region,
        account_id=function.account_id,
        logging_config=LoggingConfig.from_api(getattr(function, "logging_config", None)),
        ephemeral_storage_mb=int(function.ephemeral_storage or 512),
    )


def code_of(function: Any) -> FunctionCode:
    """The function's zip and its layers' zips, read from moto's Lambda backend."""
    backend = lambda_backend(function.account_id, function.region)
    layers = []
    for layer in function.layers:
        version = backend.layers_versions_by_arn(layer["Arn"])
        if version is None:
            raise LookupError(f"layer version {layer['Arn']} no longer exists")
        layers.append(version.code_bytes)
    return FunctionCode(function.code_bytes, layers)


def find_function(account_id: str, region: str, arn: str) -> Any:
    """The moto function an ARN names (raises moto's not-found error when gone)."""
    return lambda_backend(account_id, region).get_function(arn)


def async_settings_of(function: Any) -> AsyncSettings:
    """The function's retry attempts, maximum event age, destinations and reserved concurrency."""
    _require(function, ("event_invoke_config", "reserved_concurrency"))
    configs = list(function.event_invoke_config or [])
    config = dict(getattr(configs[-1], "config", {}) or {}) if configs else {}
    destinations = config.get("DestinationConfig") or {}
    reserved = function.reserved_concurrency
    return AsyncSettings(
        max_retry_attempts=int(config.get("MaximumRetryAttempts", DEFAULT_MAX_RETRY_ATTEMPTS)),
        max_event_age_s=int(config.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE_S)),
        on_success=(destinations.get("OnSuccess") or {}).get("Destination") or None,
        on_failure=(destinations.get("OnFailure") or {}).get("Destination") or None,
        reserved_concurrency=None if reserved in (None, "") else int(reserved),
    )


def _honour_qualifier() -> None:
    """Make Invoke run the version or alias ``Qualifier`` names.

    moto 5.2's ``LambdaResponse.invoke`` reads the parameter as ``qualifier``
    while the API (and every SDK) sends ``Qualifier``, so ``invoke --qualifier
    1`` ran ``$LATEST``. The query parameter is copied to the spelling moto reads.
    """
    original = lambda_responses.LambdaResponse.invoke
    if getattr(original, "_walkthrough", False):
        return

    @functools.wraps(original)
    def invoke(self: Any) -> Any:
        given = self.querystring.get("Qualifier")
        if given and "qualifier" not in self.querystring:
            self.querystring["qualifier"] = given
        return original(self)

    invoke._walkthrough = True  # type: ignore[attr-defined]
    lambda_responses.LambdaResponse.invoke = invoke  # type: ignore[method-assign]


def _keep_logging_config() -> None:
    """Make moto's ``LambdaFunction`` keep and answer ``LoggingConfig``, as Lambda does since 2023.

    moto 5.2 ignores ``LoggingConfig`` in CreateFunction and
    UpdateFunctionConfiguration and answers none. Lambda answers it always:
    ``{"LogFormat": "Text", "LogGroup": "/aws/lambda/<name>"}`` by default,
    and with JSON also ``ApplicationLogLevel`` and ``SystemLogLevel`` (INFO
    unless set). An update merges into what is there; Text drops the levels.
    """
    function_class = lambda_models.LambdaFunction
    if getattr(function_class.get_configuration, "_walkthrough", False):
        return
    original_init, original_update, original_get = function_class.__init__, function_class.update_configuration, function_class.get_configuration

    def normalised(config: Mapping[str, Any], function_name: str) -> dict[str, Any]:
        shape = LoggingConfig.from_api(config)
        answer: dict[str, Any] = {"LogFormat": shape.log_format}
        if shape.is_json:
            answer.update(ApplicationLogLevel=shape.application_log_level, SystemLogLevel=shape.system_log_level)
        answer["LogGroup"] = shape.log_group or f"/aws/lambda/{function_name}"
        return answer

    def init(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        self.logging_config = normalised(spec.get("LoggingConfig") or {}, self.function_name)

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "LoggingConfig" in config_updates:
            current = dict(getattr(self, "logging_config", None) or {})
            given = dict(config_updates["LoggingConfig"] or {})
            if "LogFormat" in given and str(given["LogFormat"]).upper() != str(current.get("LogFormat", "")).upper():
                current.pop("ApplicationLogLevel", None)
                current.pop("SystemLogLevel", None)
            self.logging_config = normalised({**current, **given}, self.function_name)
        return original_update(self, config_updates)

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config = original_get(self, *args, **kwargs)
        config["LoggingConfig"] = dict(getattr(self, "logging_config", None) or normalised({}, self.function_name))
        return config

    get_configuration._walkthrough = True  # type: ignore[attr-defined]
    function_class.__init__ = init  # type: ignore[method-assign]
    function_class.update_configuration = update_configuration  # type: ignore[method-assign]
    function_class.get_configuration = get_configuration  # type: ignore[method-assign]


# --------------------------------------------------------------------------- public layers (the document's Klayers ARN)


@dataclass(frozen=True)
class PublicLayerVersion:
    """What moto reads from a layer version (``arn``, ``code_size``, ``code_bytes``), for a public layer."""

    arn: str
    version: int
    code_bytes: bytes

    @property
    def code_size(self) -> int:
        return len(self.code_bytes)

    @property
    def code_sha_256(self) -> str:
        return code_sha256(self.code_bytes)


@functools.lru_cache(maxsize=1)
def _local_pillow_zip() -> bytes:
    """Pillow for the interpreter that runs python3.12 functions here (Klayers' layer is for Python 3.12)."""
    return pillow_layer_zip_for(interpreters.for_runtime("python3.12").version)


def public_layer_version(arn: str) -> PublicLayerVersion | None:
    """The stand-in for a public Klayers Pillow layer version, or None for any other ARN."""
    match = PUBLIC_PILLOW_LAYER.match(arn or "")
    if match is None:
        return None
    return PublicLayerVersion(arn=arn, version=int(match.group(3)), code_bytes=_local_pillow_zip())


# --------------------------------------------------------------------------- IAM and STS: a function's role


@dataclass(frozen=True)
class RoleCredentials:
    """Temporary credentials of a role, as Lambda hands them to an execution environment."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: float  # epoch seconds
    caller_arn: str  # arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION


@dataclass(frozen=True)
class AsyncSettings:
    """A function's asynchronous invocation configuration (PutFunctionEventInvokeConfig)."""

    max_retry_attempts: int = DEFAULT_MAX_RETRY_ATTEMPTS
    max_event_age_s: int = DEFAULT_MAX_EVENT_AGE_S
    on_success: str | None = None  # destination ARN
    on_failure: str | None = None
    reserved_concurrency: int | None = None


def _account_and_partition(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    if len(parts) < 5 or not parts[4]:
        raise ValueError(f"not an ARN with an account: {arn!r}")
    return parts[4], parts[1] or "aws"


def mint_role_credentials(role_arn: str, session_name: str, region: str, duration_s: int = 43200) -> RoleCredentials:
    """Temporary credentials for ``role_arn`` (any trust policy), made in moto's STS backend."""
    account, partition = _account_and_partition(role_arn)
    backend = sts_models.sts_backends[account][partition]
    assumed = backend.assume_role(
        region_name=region, role_session_name=session_name[:64], role_arn=role_arn,
        policy=None, duration=duration_s, external_id=None,
    )
    _require(assumed, ASSUMED_ROLE_ATTRIBUTES)
    expiration = assumed.expiration
    return RoleCredentials(
        assumed.access_key_id, assumed.secret_access_key, assumed.session_token,
        expiration.replace(tzinfo=expiration.tzinfo or timezone.utc).timestamp(), assumed.arn,
    )


def issued_secret(access_key_id: str) -> tuple[str, str | None] | None:
    """(secret, session token or None) of an access key moto issued (STS assumed roles, active IAM user keys)."""
    for account, by_partition in list(sts_models.sts_backends.items()):
        for backend in list(by_partition.values()):
            for assumed in list(getattr(backend, "assumed_roles", [])):
                if assumed.access_key_id == access_key_id:
                    return assumed.secret_access_key, assumed.session_token
    for account, by_partition in list(iam_models.iam_backends.items()):
        for backend in list(by_partition.values()):
            key = getattr(backend, "access_keys", {}).get(access_key_id)
            if key is not None and getattr(key, "status", "Active") == "Active":
                return key.secret_access_key, None
    return None


def unsigned_backend(dispatcher: Any, environ: dict[str, Any]) -> str:
    """The moto backend an unsigned request would reach ("s3" unless its body, target or path names another)."""
    path = environ.get("PATH_INFO", "")
    if path.startswith("/moto-api") or path == "/favicon.ico":
        return "moto_api"
    if path.startswith(("/latest/meta-data/", "/latest/api/")):
        return "instance_metadata"
    host = dispatcher.infer_service_region_host(environ, path) or "s3.us-east-1.amazonaws.com"
    return str(dispatcher.get_backend_for_host(host) or "s3")


def role_policy_documents(role_arn: str) -> list[dict[str, Any]] | None:
    """Every permission policy document of a role (inline, then attached), or None when the role is gone."""
    account, partition = _account_and_partition(role_arn)
    try:
        role = iam_models.iam_backends[account][partition].get_role_by_arn(role_arn)
    except Exception:  # noqa: BLE001 - moto's NotFoundException: no such role
        return None
    _require(role, ROLE_ATTRIBUTES)
    documents: list[dict[str, Any]] = []
    for document in list(role.policies.values()):
        documents.append(_policy_json(document))
    for policy in list(role.managed_policies.values()):
        for version in list(getattr(policy, "versions", [])):
            _require(version, POLICY_VERSION_ATTRIBUTES)
            if version.is_default:
                documents.append(_policy_json(version.document))
    return documents


def _policy_json(document: Any) -> dict[str, Any]:
    if isinstance(document, dict):
        return document
    text = str(document)
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(unquote(text))  # documents can arrive URL-encoded


# --------------------------------------------------------------------------- CloudFront


@dataclass(frozen=True)
class OriginView:
    """One origin of a distribution, as the emulator needs it to fetch from S3."""

    id: str
    domain_name: str
    origin_path: str
    #: the origin access control's id ("" without one) and its signing behaviour ("always", "never", "no-override")
    oac_id: str
    oac_signing_behavior: str | None
    #: ``origin-access-identity/cloudfront/<Id>`` ("" without one)
    oai: str
    is_s3: bool

    @property
    def oai_id(self) -> str:
        return self.oai.rsplit("/", 1)[-1] if self.oai else ""


@dataclass(frozen=True)
class BehaviourView:
    path_pattern: str  # "*" for the default behaviour
    target_origin_id: str
    viewer_protocol_policy: str
    allowed_methods: tuple[str, ...]
    #: the cache policy's id ("" with legacy cache settings), and the legacy settings (TTLs in seconds, query strings)
    cache_policy_id: str = ""
    min_ttl: int = 0
    default_ttl: int = 86400
    max_ttl: int = 31536000
    forward_query_strings: bool = False
    query_string_cache_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class DistributionView:
    id: str
    arn: str
    domain_name: str
    account_id: str
    enabled: bool
    status: str
    default_root_object: str
    origins: tuple[OriginView, ...]
    default_behaviour: BehaviourView
    behaviours: tuple[BehaviourView, ...]
    #: ErrorCachingMinTTL of the distribution's custom error responses, by HTTP status
    error_caching_min_ttl: Mapping[int, int] = field(default_factory=dict)

    def origin(self, origin_id: str) -> OriginView | None:
        return next((o for o in self.origins if o.id == origin_id), None)


def _behaviour(behaviour: Any, pattern: str) -> BehaviourView:
    _require(behaviour, BEHAVIOUR_ATTRIBUTES)
    methods = getattr(behaviour.allowed_methods, "items", None) or ["GET", "HEAD"]
    forwarded = vars(behaviour.forwarded_values) if behaviour.forwarded_values is not None else {}
    keys = (forwarded.get("QueryStringCacheKeys") or {}).get("Items") or []
    return BehaviourView(
        pattern, behaviour.target_origin_id, behaviour.viewer_protocol_policy or "allow-all", tuple(str(m).upper() for m in methods),
        cache_policy_id=str(behaviour.cache_policy_id or ""), min_ttl=_int(behaviour.min_ttl), default_ttl=_int(behaviour.default_ttl),
        max_ttl=_int(behaviour.max_ttl), forward_query_strings=str(forwarded.get("QueryString", False)).lower() == "true",
        query_string_cache_keys=tuple(str(k) for k in keys),
    )


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _error_caching(config: Any) -> dict[int, int]:
    """ErrorCachingMinTTL by error code, from a distribution's CustomErrorResponses."""
    responses = getattr(config, "CustomErrorResponses", None) or {}
    items = responses.get("Items") or [] if isinstance(responses, dict) else []
    return {_int(r.get("ErrorCode")): _int(r.get("ErrorCachingMinTTL")) for r in items
            if isinstance(r, dict) and r.get("ErrorCachingMinTTL") is not None}


def _distribution_view(backend: Any, account_id: str, dist: Any) -> DistributionView:
    _require(dist, DISTRIBUTION_ATTRIBUTES)
    config = dist.distribution_config
    origins = []
    for origin in (_read(config, "Origins").get("Items") or []):
        _require(origin, ORIGIN_ATTRIBUTES)
        oac_id = getattr(origin, "origin_access_control_id", "") or ""
        oac = backend.origin_access_controls.get(oac_id) if oac_id else None
        domain = origin.domain_name or ""
        origins.append(OriginView(
            id=origin.id, domain_name=domain, origin_path=origin.origin_path or "",
            oac_id=oac_id, oac_signing_behavior=getattr(oac, "signing_behavior", None) if oac else None,
            oai=origin.s3_access_identity or "",
            is_s3=hasattr(origin, "s3_origin_config") or bool(oac_id) or ".s3." in f".{domain}" or ".s3-" in domain,
        ))
    cache_behaviours = getattr(config, "CacheBehaviors", {}) or {}
    items = cache_behaviours.get("Items") or [] if isinstance(cache_behaviours, dict) else []
    return DistributionView(
        id=dist.distribution_id, arn=dist.arn, domain_name=dist.domain_name, account_id=account_id,
        enabled=str(getattr(config, "Enabled", False)).lower() == "true", status=str(dist.status),
        default_root_object=getattr(config, "DefaultRootObject", "") or "",
        origins=tuple(origins),
        default_behaviour=_behaviour(_read(config, "DefaultCacheBehavior"), "*"),
        behaviours=tuple(_behaviour(b, getattr(b, "path_pattern", "")) for b in items if hasattr(b, "target_origin_id")),
        error_caching_min_ttl=_error_caching(config),
    )


def _cloudfront(account_id: str) -> Any:
    return cloudfront_models.cloudfront_backends[account_id]["aws"]


def list_distributions(account_id: str = DEFAULT_ACCOUNT_ID) -> list[DistributionView]:
    """Every CloudFront distribution of an account, read without advancing its deployment state."""
    backend = _cloudfront(account_id)
    return [_distribution_view(backend, account_id, d) for d in list(backend.distributions.values())]


def find_distribution(account_id: str, distribution_id: str) -> DistributionView | None:
    """A distribution by id (case-insensitive, as host names are), or None."""
    backend = _cloudfront(account_id)
    wanted = distribution_id.upper()
    for key, dist in list(backend.distributions.items()):
        if key.upper() == wanted:
            return _distribution_view(backend, account_id, dist)
    return None


def find_distribution_by_domain(account_id: str, domain: str) -> DistributionView | None:
    """The distribution whose ``DomainName`` (``dxxxx.cloudfront.net``) is ``domain``, or None."""
    backend = _cloudfront(account_id)
    for dist in list(backend.distributions.values()):
        if str(getattr(dist, "domain_name", "")).lower() == domain.lower():
            return _distribution_view(backend, account_id, dist)
    return None


def origin_access_control_ids(account_id: str = DEFAULT_ACCOUNT_ID) -> set[str]:
    return set(_cloudfront(account_id).origin_access_controls)


def _keep_origin_access() -> None:
    """Make moto's CloudFront ``Origin`` keep ``OriginAccessControlId`` and ``S3OriginConfig``.

    moto 5.2 parses both from a distribution's configuration and then drops
    them, so GetDistribution(Config) answers without them and an update that
    round-trips the configuration loses the origin's access. The serializer
    reads ``origin_access_control_id`` and ``s3_origin_config`` attributes.
    """
    original = _ORIGINAL["origin_init"]
    if getattr(cloudfront_models.Origin.__init__, "_walkthrough", False):
        return

    def init(self: Any, origin: dict[str, Any]) -> None:
        original(self, origin)  # type: ignore[misc]
        self.origin_access_control_id = origin.get("OriginAccessControlId") or ""
        if "S3OriginConfig" in origin:
            config = dict(origin.get("S3OriginConfig") or {})
            config["OriginAccessIdentity"] = config.get("OriginAccessIdentity") or ""
            self.s3_origin_config = config

    init._walkthrough = True  # type: ignore[attr-defined]
    cloudfront_models.Origin.__init__ = init  # type: ignore[method-assign]


#: ``handler(distribution_id, paths)``: called before an invalidation is recorded; raises ``ValueError``
#: with ``code`` and ``message`` attributes (CloudFront's answer) to refuse it.
InvalidationHandler = Callable[[str, "list[str]"], None]
_INVALIDATION_HANDLERS: list[InvalidationHandler] = []


def on_invalidation(handler: InvalidationHandler) -> None:
    """Have ``handler`` see (and clear the edge cache for) every invalidation before moto records it."""
    _INVALIDATION_HANDLERS[:] = [handler]


def _legacy_cache_defaults() -> None:
    """Give a cache behaviour without a cache policy AWS's defaults for the TTLs it leaves out.

    moto 5.2 stores a missing ``DefaultTTL`` and ``MaxTTL`` as 0, which would
    mean "never cache"; CloudFront's API defaults are 86400 and 31536000 s.
    """
    original = _ORIGINAL["behaviour_init"]
    if getattr(cloudfront_models.DefaultCacheBehaviour.__init__, "_walkthrough", False):
        return

    def init(self: Any, config: dict[str, Any]) -> None:
        original(self, config)  # type: ignore[misc]
        if not config.get("CachePolicyId"):
            if config.get("DefaultTTL") is None:
                self.default_ttl = 86400
            if config.get("MaxTTL") is None:
                self.max_ttl = 31536000

    init._walkthrough = True  # type: ignore[attr-defined]
    cloudfront_models.DefaultCacheBehaviour.__init__ = init  # type: ignore[method-assign]


def _invalidations_as_cloudfront_runs_them() -> None:
    """``CreateInvalidation`` as CloudFront answers it (moto 5.2 records any path, says ``COMPLETED`` at once).

    The handler checks the paths and clears the edge cache; the answer says
    ``InProgress`` (CloudFront's first status), and the recorded invalidation
    ``Completed`` (the cache is already cleared when the answer leaves), which
    is what ``GetInvalidation`` and boto3's ``invalidation_completed`` waiter
    see. The same ``CallerReference`` with the same paths gives the same
    invalidation; with other paths, ``InvalidationBatchAlreadyExists``.
    """
    original = _ORIGINAL["create_invalidation"]
    if getattr(cloudfront_models.CloudFrontBackend.create_invalidation, "_walkthrough", False):
        return

    def create_invalidation(self: Any, dist_id: str, paths: list[str], caller_ref: str) -> Any:
        for existing in self.invalidations.get(dist_id, []):
            if caller_ref and existing.caller_ref == caller_ref:
                if list(existing.paths) == list(paths):
                    return existing
                raise CloudFrontException("InvalidationBatchAlreadyExists",
                                          "The specified invalidation batch already exists, but with different content.")
        self.get_distribution(dist_id)  # NoSuchDistribution first, as CloudFront answers
        for handler in list(_INVALIDATION_HANDLERS):
            try:
                handler(dist_id, list(paths))
            except ValueError as exc:
                raise CloudFrontException(getattr(exc, "code", "InvalidArgument"), getattr(exc, "message", str(exc))) from None
        invalidation = original(self, dist_id, paths, caller_ref)
        invalidation.status = "Completed"
        reported = copy.copy(invalidation)
        reported.status = "InProgress"
        return reported

    create_invalidation._walkthrough = True  # type: ignore[attr-defined]
    cloudfront_models.CloudFrontBackend.create_invalidation = create_invalidation  # type: ignore[method-assign]


# --------------------------------------------------------------------------- API Gateway


@dataclass(frozen=True)
class MethodView:
    http_method: str
    authorization_type: str
    api_key_required: bool
    integration_type: str | None
    integration_uri: str | None


@dataclass(frozen=True)
class ResourceView:
    id: str
    path: str
    methods: Mapping[str, MethodView] = field(default_factory=dict)


@dataclass(frozen=True)
class StageView:
    name: str
    deployment_id: str
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RestApiView:
    id: str
    name: str
    account_id: str
    region: str
    binary_media_types: tuple[str, ...]
    stages: Mapping[str, StageView]
    resources: tuple[ResourceView, ...]


def _rest_api_view(api: Any) -> RestApiView:
    _require(api, REST_API_ATTRIBUTES)
    resources = []
    for resource in list(api.resources.values()):
        _require(resource, RESOURCE_ATTRIBUTES)
        methods = {}
        for verb, method in list(resource.resource_methods.items()):
            _require(method, METHOD_ATTRIBUTES)
            integration = method.method_integration
            methods[str(verb).upper()] = MethodView(
                http_method=str(verb).upper(),
                authorization_type=str(method.authorization_type or "NONE"),
                api_key_required=bool(method.api_key_required),
                integration_type=getattr(integration, "integration_type", None),
                integration_uri=getattr(integration, "uri", None),
            )
        resources.append(ResourceView(resource.id, resource.get_path(), methods))
    stages = {
        name: StageView(name, str(getattr(stage, "deployment_id", "") or ""), dict(getattr(stage, "variables", None) or {}))
        for name, stage in list(api.stages.items())
    }
    return RestApiView(
        id=api.id, name=api.name, account_id=api.account_id, region=api.region_name,
        binary_media_types=tuple(api.binaryMediaTypes or ()), stages=stages, resources=tuple(resources),
    )


def find_rest_api(account_id: str, api_id: str) -> RestApiView | None:
    """A REST API by id, in whichever region holds it, or None."""
    wanted = api_id.lower()
    for backend in list(apigateway_models.apigateway_backends[account_id].values()):
        for key, api in list(backend.apis.items()):
            if key.lower() == wanted:
                return _rest_api_view(api)
    return None


# --------------------------------------------------------------------------- S3


@dataclass(frozen=True)
class BucketView:
    """What decides who may read a bucket: its policy, Block Public Access (bucket and account) and ACLs."""

    name: str
    account_id: str
    region: str
    policy: Mapping[str, Any] | None
    #: the effective Block Public Access settings (bucket's OR account's), by their API names
    block_public_access: Mapping[str, bool]
    acls_enabled: bool
    acl_public_read: bool


_BPA_NAMES = {
    "BlockPublicAcls": "block_public_acls",
    "IgnorePublicAcls": "ignore_public_acls",
    "BlockPublicPolicy": "block_public_policy",
    "RestrictPublicBuckets": "restrict_public_buckets",
}


def _bpa(block: Any) -> dict[str, bool]:
    return {name: bool(getattr(block, attr, False)) for name, attr in _BPA_NAMES.items()} if block is not None else {}


def _bucket(bucket_name: str) -> Any | None:
    try:
        return s3_models.s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket(bucket_name)
    except Exception:  # noqa: BLE001 - moto's MissingBucket (and cross-account locks): no such bucket for us
        return None


def find_bucket(bucket_name: str) -> BucketView | None:
    """A bucket's access configuration, or None when it does not exist."""
    bucket = _bucket(bucket_name)
    if bucket is None:
        return None
    _require(bucket, BUCKET_ATTRIBUTES)
    try:
        policy = json.loads(bucket.policy) if bucket.policy else None
    except ValueError:
        policy = None
    settings = _bpa(bucket.public_access_block)
    try:
        account_block = s3control_models.s3control_backends[bucket.account_id]["aws"].public_access_block
    except Exception:  # noqa: BLE001
        account_block = None
    for name, value in _bpa(account_block).items():
        settings[name] = settings.get(name, False) or value
    rule = bucket.ownership_rule  # "BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter" or None
    if isinstance(rule, dict):
        rule = rule.get("ObjectOwnership")
    acl = bucket.acl
    return BucketView(
        name=bucket.name, account_id=bucket.account_id, region=bucket.region_name, policy=policy,
        block_public_access=settings, acls_enabled=rule != "BucketOwnerEnforced",
        acl_public_read=bool(getattr(acl, "public_read", False)),
    )


def object_public_read(bucket_name: str, key: str) -> bool | None:
    """Whether an object's ACL grants everyone read access; None when the object does not exist."""
    bucket = _bucket(bucket_name)
    if bucket is None:
        return None
    found = bucket.keys.get(key)
    if not isinstance(found, s3_models.FakeKey):
        return None
    return bool(getattr(found.acl, "public_read", False))


# --------------------------------------------------------------------------- installing the patches

#: ``run_now(function, event, client_context)``: a RequestResponse invocation and its result.
RunNow = Callable[[Any, Any, "dict[str, Any] | None"], InvocationResult]


def _client_context(headers: Mapping[str, str]) -> dict[str, Any] | None:
    """Invoke's ``ClientContext`` (the ``X-Amz-Client-Context`` header: base64 JSON), or None."""
    raw = headers.get("x-amz-client-context") or headers.get("X-Amz-Client-Context")
    if not raw:
        return None
    try:
        value = json.loads(base64.b64decode(raw))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
#: ``run_later(account_id, region, arn, event)``: queue an asynchronous invocation.
RunLater = Callable[[str, str, str, Any], None]


def install(run_now: RunNow, run_later: RunLater, deliver_s3_event: RunLater) -> None:
    """Apply every patch: Lambda invocations, S3 notifications, public layers, CloudFront origins, IAM off.

    ``run_now`` serves RequestResponse invocations, ``run_later`` Event ones;
    ``deliver_s3_event`` receives each S3 notification moto matched.
    """
    problems = check_internals()
    if problems:
        raise RuntimeError("moto internals changed; the emulator cannot hook: " + "; ".join(problems))

    def invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> bytes:
        event = json.loads(body) if body else {}
        headers = request_headers or {}
        invocation_type = headers.get("x-amz-invocation-type") or headers.get("X-Amz-Invocation-Type") or "RequestResponse"
        response_headers["x-amz-executed-version"] = str(self.version)
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":
            run_later(self.account_id, self.region, self.function_arn, event)
            return b""
        result = run_now(self, event, _client_context(headers))
        if not result.ok:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-log-result"] = result.log_tail_b64
        return result.payload

    def s3_invoke(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        deliver_s3_event(account_id, region_name, fn_arn, event_body)

    lambda_models.LambdaFunction.invoke = invoke  # type: ignore[method-assign]
    s3_notifications._invoke_awslambda = s3_invoke  # type: ignore[attr-defined]
    _keep_origin_access()
    _legacy_cache_defaults()
    _invalidations_as_cloudfront_runs_them()
    _keep_logging_config()
    _honour_qualifier()
    _serve_public_layers()
    _build_managed_policies_once()
    _find_key_accounts_without_building_backends()
    _list_moto_once()
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")


@functools.cache
def _managed_policy_prototypes(account_id: str, region_name: str) -> tuple[Any, ...]:
    """moto's ~1,300 AWS managed policies for one account and partition, parsed and built once."""
    owner = types.SimpleNamespace(account_id=account_id, region_name=region_name)
    return tuple(_ORIGINAL["init_aws_policies"](owner))


def _shallow_copy(prototype: Any) -> Any:
    # Half the time of copy.copy (8 ms against 17 ms for moto's 1,582 policies): after each reset
    # every account's IAM backend is built again for each of moto's 8 partitions.
    duplicate = object.__new__(type(prototype))
    duplicate.__dict__.update(prototype.__dict__)
    return duplicate


def _fresh_copy(prototype: Any) -> Any:
    """A managed policy as a new backend has it: no attachments, no tags, its own versions."""
    policy = _shallow_copy(prototype)
    policy.versions = [_shallow_copy(version) for version in prototype.versions]
    policy.tags = {}
    policy.attachment_count = 0
    return policy


def _build_managed_policies_once() -> None:
    """Make a new IAM backend's AWS managed policies copies of ones built once (idempotent).

    moto parses its 3 MB policy file and builds every policy again (0.15-0.25 s)
    for each new IAM backend: after each emulator reset, for each account and
    partition in use. Measured on the notebook tests: a third of the
    emulator's CPU time (34 s for nine notebook runs); the copies take 8 ms.
    """
    if getattr(iam_models.IAMBackend._init_aws_policies, "_walkthrough", False):
        return

    def init_aws_policies(self: Any) -> list[Any]:
        if not moto_settings.load_iam_aws_managed_policies():
            return []
        return [_fresh_copy(p) for p in _managed_policy_prototypes(self.account_id, self.region_name)]

    init_aws_policies._walkthrough = True  # type: ignore[attr-defined]
    iam_models.IAMBackend._init_aws_policies = init_aws_policies  # type: ignore[method-assign]


def _list_moto_once() -> None:
    """Keep what moto lists from its own folders (idempotent).

    For every request moto's dispatcher lists moto's ~150 service folders (a
    ``stat`` each) to tell a service name from a host, and each model moto
    loads comes with a new loader that lists botocore's ~400 service folders
    again: an eighth of the emulator's CPU spent on requests in a notebook run.
    Neither folder changes while the emulator runs.
    """
    if getattr(moto_backends.list_of_moto_modules, "_walkthrough", False):
        return
    modules = tuple(moto_backends.list_of_moto_modules())

    def list_of_moto_modules() -> tuple[str, ...]:
        return modules

    list_of_moto_modules._walkthrough = True  # type: ignore[attr-defined]
    moto_backends.list_of_moto_modules = list_of_moto_modules  # type: ignore[assignment]
    moto_core_utils.create_loader = functools.cache(moto_core_utils.create_loader)  # type: ignore[assignment]


def _find_key_accounts_without_building_backends() -> None:
    """moto's ``get_account_id_from``, looking only in the IAM backends that exist (idempotent).

    Every signed request asks which account its access key belongs to. moto
    looks in each account's IAM backend for each of its 8 partitions, and
    reading a partition's backend builds it: after a reset, the first request
    built seven IAM backends no request uses, each with its copy of 1,582
    managed policies (0.35 s of CPU per reset, about half of what a reset and
    its first requests cost). A backend that was never built holds no keys,
    so skipping those finds the same account.
    """
    if getattr(iam_models.get_account_id_from, "_walkthrough", False):
        return

    def get_account_id_from(access_key: str) -> str:
        for account_id, account in list(iam_models.iam_backends.items()):
            for partition in iam_models.PARTITION_NAMES:
                backend = dict.get(account, partition)  # the dict's own lookup: ``account[partition]`` would build it
                if backend is not None and access_key in backend.access_keys:
                    return account_id
        return DEFAULT_ACCOUNT_ID

    get_account_id_from._walkthrough = True  # type: ignore[attr-defined]
    iam_models.get_account_id_from = get_account_id_from


def _serve_public_layers() -> None:
    """Wrap ``LambdaBackend.layers_versions_by_arn`` so Klayers' Pillow ARNs resolve (idempotent).

    It is what ``LambdaFunction._get_layers_data`` calls when a function is
    created or updated, and what ``code_of`` reads layer zips through.
    """
    original = _ORIGINAL["layers_by_arn"]
    if getattr(lambda_models.LambdaBackend.layers_versions_by_arn, "_walkthrough", False):
        return

    def layers_versions_by_arn(self: Any, layer_version_arn: str) -> Any:
        found = original(self, layer_version_arn)
        return found if found is not None else public_layer_version(layer_version_arn)

    layers_versions_by_arn._walkthrough = True  # type: ignore[attr-defined]
    lambda_models.LambdaBackend.layers_versions_by_arn = layers_versions_by_arn  # type: ignore[method-assign]


# --------------------------------------------------------------------------- CloudFormation
#
# moto's CloudFormation finds a resource type's model among CloudFormationModel's direct
# subclasses (``parsing.get_model_map``, cached): its extension point. The emulator's handlers
# (``cloudformation.py``) become such models, defined after moto's so they win for their type.
# Around them, what moto's stacks lack and AWS does: DependsOn honoured by change sets, a
# failed creation rolled back (ROLLBACK_COMPLETE) instead of an HTTP 500, a failed deletion
# reported (DELETE_FAILED) instead of a stack that says it is gone, deletion in reverse
# dependency order, a stack event per resource, outputs after a change set, and the template
# checked before anything is created.


@functools.lru_cache(maxsize=1)
def _cfn() -> Any:
    """moto's CloudFormation modules, imported on first use (about 1 s: they import most of moto's services)."""
    from types import SimpleNamespace

    from moto.cloudformation import exceptions, models, parsing, responses
    from moto.core.common_models import CloudFormationModel
    from moto.logs import models as logs_models  # noqa: F401 - defines AWS::Logs::LogGroup's model, which parsing.py does not import

    class InsufficientCapabilities(exceptions.CloudFormationError):
        code = "InsufficientCapabilitiesException"

    return SimpleNamespace(exceptions=exceptions, models=models, parsing=parsing, responses=responses,
                           CloudFormationModel=CloudFormationModel, InsufficientCapabilities=InsufficientCapabilities)


def cloudformation_internals() -> list[tuple[Any, str, str]]:
    """The CloudFormation internals the emulator relies on (checked by ``check_internals(cloudformation=True)``)."""
    cfn = _cfn()
    return [
        (cfn.parsing, "get_model_list", "finds resource models among CloudFormationModel's subclasses (cached)"),
        (cfn.parsing, "get_model_map", "maps a resource type to its model (cached)"),
        (cfn.parsing, "get_name_type_map", "maps a resource type to its name property (cached)"),
        (cfn.parsing, "parse_and_create_resource", "creates one resource of a stack (wrapped)"),
        (cfn.parsing, "NULL_MODELS", "resource types moto ignores on purpose"),
        (cfn.parsing, "OutputMap", "a stack's outputs"),
        (cfn.parsing.ResourceMap, "delete", "deletes a stack's resources (replaced: reverse dependency order)"),
        (cfn.parsing.ResourceMap, "_delete_resource", "deletes one resource of a stack"),
        (cfn.models.Stack, "create_resources", "creates a new stack's resources (wrapped: rollback)"),
        (cfn.models.Stack, "update", "UpdateStack's work (wrapped: a failure ends UPDATE_ROLLBACK_COMPLETE)"),
        (cfn.models.Stack, "parse_template", "reads a template (YAML or JSON)"),
        (cfn.models.Stack, "_create_output_map", "a stack's outputs from its template"),
        (cfn.models.Stack, "_add_stack_event", "the stack's own events"),
        (cfn.models.Stack, "_parse_template", "the stack's template as a dict"),
        (cfn.models, "Event", "a resource's stack events"),
        (cfn.models, "cloudformation_backends", "finds the stack a resource belongs to"),
        (cfn.models.CloudFormationBackend, "create_stack", "CreateStack (wrapped: template checks)"),
        (cfn.models.CloudFormationBackend, "create_change_set", "CreateChangeSet (wrapped: template checks)"),
        (cfn.models.CloudFormationBackend, "execute_change_set", "ExecuteChangeSet (wrapped: rollback, outputs)"),
        (cfn.models.CloudFormationBackend, "delete_stack", "DeleteStack (wrapped: DELETE_FAILED)"),
        (cfn.exceptions, "ValidationError", "CloudFormation's ValidationError"),
        (cfn.exceptions, "CloudFormationError", "the base of CloudFormation's errors (InsufficientCapabilitiesException)"),
        (cfn.responses.CloudFormationResponse, "create_stack", "CreateStack's request (wrapped: capabilities)"),
        (cfn.responses.CloudFormationResponse, "create_change_set", "CreateChangeSet's request (wrapped: capabilities)"),
        (cfn.responses.CloudFormationResponse, "_get_param", "reads a request's TemplateBody and Capabilities"),
        (cfn.exceptions, "UnformattedGetAttTemplateException", "an attribute Fn::GetAtt cannot read"),
        (cfn.CloudFormationModel, "create_from_cloudformation_json", "the resource model interface"),
    ]


#: The CloudFormation functions the emulator wraps: (name, original, expected leading parameters).
def cloudformation_signatures() -> list[tuple[str, Callable[[], Any], list[str]]]:
    cfn = _cfn()
    return [
        ("parsing.parse_and_create_resource", lambda: _CFN_ORIGINAL.get("create_resource", cfn.parsing.parse_and_create_resource),
         ["logical_id", "resource_json", "resources_map", "account_id", "region_name"]),
        ("ResourceMap._delete_resource", lambda: _CFN_ORIGINAL.get("delete_resource", cfn.parsing.ResourceMap._delete_resource),
         ["self", "parsed_resource", "resource_json"]),
        ("CloudFormationBackend.create_stack", lambda: _CFN_ORIGINAL.get("create_stack", cfn.models.CloudFormationBackend.create_stack),
         ["self", "name", "template", "parameters"]),
        ("CloudFormationBackend.create_change_set", lambda: _CFN_ORIGINAL.get("create_change_set", cfn.models.CloudFormationBackend.create_change_set),
         ["self", "stack_name", "change_set_name", "template", "parameters", "description", "change_set_type"]),
        ("CloudFormationBackend.execute_change_set", lambda: _CFN_ORIGINAL.get("execute_change_set", cfn.models.CloudFormationBackend.execute_change_set),
         ["self", "change_set_name", "stack_name"]),
        ("CloudFormationBackend.delete_stack", lambda: _CFN_ORIGINAL.get("delete_stack", cfn.models.CloudFormationBackend.delete_stack),
         ["self", "name_or_stack_id"]),
    ]


_CFN_ORIGINAL: dict[str, Any] = {}
#: resource type -> the emulator's handler (``cloudformation.Handler``); the models look their handler up here.
_CFN_HANDLERS: dict[str, Any] = {}
_CFN_MODELS: dict[str, type] = {}
_CFN_LOCK = threading.Lock()


def _moto_reason(exc: BaseException) -> str:
    """A moto model's exception as a resource handler's status reason."""
    from walkthrough.emulator.cloudformation import ResourceFailed

    if isinstance(exc, ResourceFailed):
        return exc.reason
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    code = str(getattr(exc, "error_type", "") or getattr(exc, "code", "") or type(exc).__name__)
    handler_code = ("AlreadyExists" if "Exists" in code or "Conflict" in code else
                    "NotFound" if "NotFound" in code or "NoSuch" in code else "InvalidRequest")
    return f'Resource handler returned message: "{message}" (RequestToken: {uuid.uuid4()}, HandlerErrorCode: {handler_code})'


#: Stacks being deleted: moto takes a stack out of its list before deleting its resources.
_DELETING: dict[str, Any] = {}


def _stack_of(account_id: str, region: str, stack_id: str) -> Any:
    backend = _cfn().models.cloudformation_backends[account_id][region]
    return backend.stacks.get(stack_id) or _DELETING.get(stack_id) or backend.deleted_stacks.get(stack_id)


def _resource_event(stack: Any, logical_id: str, physical_id: str, kind: str, status: str, reason: str | None = None) -> None:
    if stack is None:
        return
    stack.events.append(_cfn().models.Event(
        stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id, physical_resource_id=physical_id or "",
        resource_type=kind, resource_status=status, resource_status_reason=reason, resource_properties=None,
    ))


def _model_class(type_name: str) -> type:
    """A CloudFormation resource model for ``type_name`` that hands every operation to the emulator's handler."""
    from walkthrough.emulator import cloudformation

    cfn = _cfn()

    def handler() -> Any:
        return _CFN_HANDLERS[type_name]

    class HandlerModel(cfn.CloudFormationModel):  # type: ignore[misc, valid-type]
        def __init__(self, request: Any, created: Any) -> None:
            self.request, self.created = request, created

        @staticmethod
        def cloudformation_type() -> str:
            return type_name

        @staticmethod
        def cloudformation_name_type() -> str:
            return str(handler().name_property)

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in handler().attributes

        @staticmethod
        def _request(resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str,
                     logical_id: str, stack_id: str) -> Any:
            properties = dict(cloudformation_json.get("Properties") or {})
            name_property = handler().name_property
            # moto reads the name from its own model's name property, wrong for some types (LayerVersion's is LayerName)
            physical = str(properties.get(name_property) or resource_name) if name_property else resource_name
            return cloudformation.Request(logical_id, type_name, physical, properties, account_id, region_name, stack_id)

        @classmethod
        def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
                                            region_name: str, **kwargs: Any) -> Any:
            request = cls._request(resource_name, cloudformation_json, account_id, region_name,
                                   str(kwargs.get("LogicalId", "")), str(kwargs.get("StackId", "")))
            return cls(request, handler().create(request))

        @classmethod
        def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any],
                                            account_id: str, region_name: str) -> Any:
            old = original_resource.request
            new = cls._request(new_resource_name, cloudformation_json, account_id, region_name, old.logical_id, old.stack_id)
            name_property = handler().name_property
            if not (name_property and new.properties.get(name_property)):
                new = cloudformation.with_properties(new, new.properties, old.physical_name)  # generated names stay
            return cls(new, handler().update(original_resource.created, old, new))

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
                                            region_name: str) -> None:
            request = cls._request(resource_name, cloudformation_json, account_id, region_name, "", "")
            handler().delete(cloudformation.Created(resource_name), request)

        @property
        def physical_resource_id(self) -> str:
            return str(self.created.physical_id)

        def get_cfn_attribute(self, attribute_name: str) -> Any:
            if attribute_name in self.created.attributes:
                return self.created.attributes[attribute_name]
            raise cfn.exceptions.UnformattedGetAttTemplateException()

        def delete(self, account_id: str, region_name: str) -> None:
            handler().delete(self.created, self.request)

        def is_created(self) -> bool:
            return True

    HandlerModel.__name__ = HandlerModel.__qualname__ = "Walkthrough" + type_name.replace("AWS::", "").replace("::", "")
    return HandlerModel


def cloudformation_model(type_name: str) -> type | None:
    """The model moto's CloudFormation uses for a resource type now (None: it cannot create that type)."""
    return _cfn().parsing.get_model_map().get(type_name)


def _creatable(type_name: str) -> bool:
    parsing = _cfn().parsing
    return type_name.startswith("Custom::") or type_name in parsing.NULL_MODELS or type_name in parsing.get_model_map()


def install_cloudformation(handlers: Mapping[str, Any]) -> None:
    """Make moto's CloudFormation use the emulator's handlers for their types, and behave as AWS's does (idempotent)."""
    cfn = _cfn()
    with _CFN_LOCK:
        _CFN_HANDLERS.update(handlers)
        for type_name in handlers:
            if type_name not in _CFN_MODELS:
                _CFN_MODELS[type_name] = _model_class(type_name)
        for cached in (cfn.parsing.get_model_list, cfn.parsing.get_model_map, cfn.parsing.get_name_type_map):
            cached.cache_clear()  # the map is built once from the subclasses; ours are new
        wrong = [t for t in handlers if cfn.parsing.get_model_map().get(t) is not _CFN_MODELS[t]]
        if wrong:
            raise RuntimeError(f"moto's CloudFormation does not pick the emulator's models for {', '.join(wrong)}")
        if not _CFN_ORIGINAL:
            problems = check_cloudformation_internals()
            if problems:
                raise RuntimeError("moto's CloudFormation changed; the emulator cannot hook: " + "; ".join(problems))
            _patch_cloudformation(cfn)


def check_cloudformation_internals() -> list[str]:
    """Names of the CloudFormation internals that are missing or changed (empty: all there)."""
    problems = [f"{getattr(owner, '__name__', owner)}.{name} ({why})" for owner, name, why in cloudformation_internals()
                if not hasattr(owner, name)]
    for name, original, expected in cloudformation_signatures():
        try:
            params = list(inspect.signature(original()).parameters)
        except (AttributeError, TypeError, ValueError):
            continue  # reported as missing above
        if params[: len(expected)] != expected:
            problems.append(f"{name}{params} (expected {', '.join(expected)})")
    return problems


def _patch_cloudformation(cfn: Any) -> None:
    from walkthrough.emulator import cloudformation

    parsing, models = cfn.parsing, cfn.models
    backend_class = models.CloudFormationBackend
    _CFN_ORIGINAL.update(
        create_resource=parsing.parse_and_create_resource, delete_resource=parsing.ResourceMap._delete_resource,
        create_resources=models.Stack.create_resources, update=models.Stack.update, create_stack=backend_class.create_stack,
        create_change_set=backend_class.create_change_set, execute_change_set=backend_class.execute_change_set,
        delete_stack=backend_class.delete_stack,
    )
    original = dict(_CFN_ORIGINAL)

    def create_resource(logical_id: str, resource_json: dict[str, Any], resources_map: Any, account_id: str, region_name: str) -> Any:
        condition = resource_json.get("Condition")
        if condition and not resources_map.lazy_condition_map[condition]:
            return None
        declared = resources_map._resource_json_map
        # what it needs first: DependsOn (moto's change sets ignore it) and what its properties refer to
        for needed in [*cloudformation._depends_on(resource_json), *cloudformation._references(resource_json.get("Properties") or {})]:
            if needed in declared and needed != logical_id:
                resources_map[needed]
        stack = _stack_of(account_id, region_name, resources_map.stack_id)
        kind = str(resource_json.get("Type", ""))
        _resource_event(stack, logical_id, "", kind, "CREATE_IN_PROGRESS")
        try:
            resource = original["create_resource"](logical_id, resource_json, resources_map, account_id, region_name)
        except cloudformation.ResourceFailed as failed:
            failed.logical_id, failed.resource_type = failed.logical_id or logical_id, failed.resource_type or kind
            if failed.logical_id == logical_id:
                _resource_event(stack, logical_id, "", kind, "CREATE_FAILED", failed.reason)
            raise
        except Exception as exc:  # noqa: BLE001 - a moto model's error (a role name taken ...): the resource failed
            reason = _moto_reason(exc)
            _resource_event(stack, logical_id, "", kind, "CREATE_FAILED", reason)
            raise cloudformation.ResourceFailed(reason, logical_id, kind) from exc
        _resource_event(stack, logical_id, getattr(resource, "physical_resource_id", "") or "", kind, "CREATE_COMPLETE")
        return resource

    def delete_resource(self: Any, parsed_resource: Any, resource_json: dict[str, Any]) -> None:
        stack = _stack_of(self._account_id, self._region_name, self.stack_id)
        logical_id = getattr(parsed_resource, "logical_resource_id", "")
        physical_id = str(getattr(parsed_resource, "physical_resource_id", "") or "")
        kind = str(resource_json.get("Type", ""))
        _resource_event(stack, logical_id, physical_id, kind, "DELETE_IN_PROGRESS")
        try:
            original["delete_resource"](self, parsed_resource, resource_json)
        except Exception as exc:  # noqa: BLE001 - reported as the resource's DELETE_FAILED
            reason = _moto_reason(exc)
            _resource_event(stack, logical_id, physical_id, kind, "DELETE_FAILED", reason)
            raise cloudformation.ResourceFailed(reason, logical_id, kind) from exc
        _resource_event(stack, logical_id, physical_id, kind, "DELETE_COMPLETE")

    def delete_resources(self: Any) -> None:
        """Dependents first, as CloudFormation deletes; what a failed resource needs stays (and the stack says DELETE_FAILED)."""
        template = {"Resources": dict(self._resource_json_map)}
        graph = cloudformation.dependencies(template)
        order: list[str] = []

        def visit(node: str, seen: set[str]) -> None:
            if node in order or node in seen:
                return
            seen.add(node)
            for dependent in [n for n, needs in graph.items() if node in needs]:
                visit(dependent, seen)
            order.append(node)

        for node in graph:
            visit(node, set())
        blocked: set[str] = set()
        failures: list[Any] = []
        for logical_id in order:
            resource_json = self._resource_json_map.get(logical_id) or {}
            if logical_id in blocked or resource_json.get("DeletionPolicy") == "Retain":
                continue
            parsed = self._parsed_resources.get(logical_id)
            if parsed is not None and not isinstance(parsed, str):
                try:
                    self._delete_resource(parsed, resource_json)
                except cloudformation.ResourceFailed as exc:  # CloudFormation goes on with what does not depend on it
                    failures.append(exc)
                    pending = list(graph.get(logical_id, []))
                    while pending:
                        needed = pending.pop()
                        if needed not in blocked:
                            blocked.add(needed)
                            pending += graph.get(needed, [])
                    continue
                self._parsed_resources.pop(logical_id, None)
            # moto's map creates any resource it is asked for, so a deleted one must leave it
            self._resource_json_map = {k: v for k, v in self._resource_json_map.items() if k != logical_id}
        if failures:
            raise cloudformation.ResourceFailed(failures[0].reason, ", ".join(f.logical_id for f in failures), failures[0].resource_type)

    def roll_back(stack: Any, failure: Any, creating: bool, before: tuple[Any, dict[str, Any]] | None = None) -> None:
        """What CloudFormation does after a failure: delete what the operation created, then say how it ended.

        ``before``: the stack's template and resources before an update, which it returns to.
        """
        verb = "create" if creating else "update"
        stack.status = "ROLLBACK_IN_PROGRESS" if creating else "UPDATE_ROLLBACK_IN_PROGRESS"
        stack._add_stack_event(stack.status, resource_status_reason=f"The following resource(s) failed to {verb}: "
                               f"[{failure.logical_id}]. Rollback requested by user.")
        resource_map = stack.resource_map
        if not creating:
            template, resources = before or (stack.template, dict(resource_map._resource_json_map))
            added = {k: v for k, v in resource_map._resource_json_map.items() if k not in resources}
            for logical_id, resource_json in added.items():
                parsed = resource_map._parsed_resources.get(logical_id)
                if parsed is not None and not isinstance(parsed, str):
                    try:
                        resource_map._delete_resource(parsed, resource_json)
                    except cloudformation.ResourceFailed:
                        pass  # its DELETE_FAILED event says why
                    resource_map._parsed_resources.pop(logical_id, None)
            resource_map._resource_json_map = dict(resources)
            stack.template = template
            stack._parse_template()
            resource_map._template = stack.template_dict
            stack.output_map = stack._create_output_map()
            stack.status = "UPDATE_ROLLBACK_COMPLETE"
            stack._add_stack_event(stack.status, resource_status_reason="The walkthrough emulator deleted what the update "
                                   "added; what it changed or removed before the failure keeps the update's state.")
            return
        try:
            resource_map.delete()
        except Exception as exc:  # noqa: BLE001
            stack.status = "ROLLBACK_FAILED"
            stack._add_stack_event(stack.status, resource_status_reason=_moto_reason(exc))
            return
        resource_map._resource_json_map = {}
        stack.output_map = parsing.OutputMap(resource_map, {}, stack.stack_id)  # outputs would re-create resources
        stack.status = "ROLLBACK_COMPLETE"
        stack._add_stack_event(stack.status)

    def create_resources(self: Any) -> None:
        try:
            original["create_resources"](self)
        except cloudformation.ResourceFailed as failure:
            roll_back(self, failure, creating=True)

    def update(self: Any, template: str, *args: Any, **kwargs: Any) -> None:
        before = (self.template, dict(self.resource_map._resource_json_map))
        try:
            original["update"](self, template, *args, **kwargs)
        except cloudformation.ResourceFailed as failure:
            roll_back(self, failure, creating=False, before=before)

    def checked(template_text: Any) -> dict[str, Any]:
        try:
            template = models.Stack.parse_template(template_text) if isinstance(template_text, str) else dict(template_text or {})
        except Exception:  # noqa: BLE001 - moto answers an unreadable template with its own error
            return {}
        problems = cloudformation.template_problems(template or {}, _creatable)
        if problems:
            raise cfn.exceptions.ValidationError(message=problems[0])
        return template or {}

    def create_stack(self: Any, name: str, template: str, parameters: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        circle = cloudformation.circular_dependency(checked(template))
        if circle:
            raise cfn.exceptions.ValidationError(message=circle)
        return original["create_stack"](self, name, template, parameters, *args, **kwargs)

    def create_change_set(self: Any, stack_name: str, change_set_name: str, template: str, parameters: dict[str, str],
                          description: str, change_set_type: str, *args: Any, **kwargs: Any) -> Any:
        circle = cloudformation.circular_dependency(checked(template))
        answer = original["create_change_set"](self, stack_name, change_set_name, template, parameters, description,
                                               change_set_type, *args, **kwargs)
        if circle:  # CloudFormation accepts the request, then fails the change set
            change_set = self.change_sets[answer[0]]
            change_set.status, change_set.execution_status, change_set.status_reason = "FAILED", "UNAVAILABLE", circle
        return answer

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.change_sets.get(change_set_name) or next(
            (c for c in self.change_sets.values() if c.change_set_name == change_set_name
             and (stack_name is None or self.stacks.get(c.stack_id) is None or self.stacks[c.stack_id].name == stack_name)), None)
        if change_set is None or change_set.execution_status != "AVAILABLE":
            status = "no such change set" if change_set is None else f"its status is {change_set.execution_status}"
            raise cfn.exceptions.ValidationError(message=f"ChangeSet [{change_set_name}] cannot be executed: {status}")
        stack = self.stacks[change_set.stack_id]
        before = (stack.template, dict(stack.resource_map._resource_json_map))
        try:
            original["execute_change_set"](self, change_set_name, stack_name)
        except cloudformation.ResourceFailed as failure:
            change_set.execution_status = "EXECUTE_FAILED"
            if change_set.change_set_type == "CREATE":
                stack.template = change_set.template
                stack._parse_template()
            roll_back(stack, failure, creating=change_set.change_set_type == "CREATE", before=before)
            return
        stack._parse_template()  # moto keeps the outputs of the empty template a new change set's stack starts with
        stack.description = stack.template_dict.get("Description")
        stack.output_map = stack._create_output_map()

    def delete_stack(self: Any, name_or_stack_id: str) -> None:
        stack = self.stacks.get(name_or_stack_id) or next((s for s in self.stacks.values() if s.name == name_or_stack_id), None)
        if stack is not None:
            _DELETING[stack.stack_id] = stack
        try:
            original["delete_stack"](self, name_or_stack_id)
        except cloudformation.ResourceFailed as failure:
            if stack is None:
                raise
            self.deleted_stacks.pop(stack.stack_id, None)
            self.stacks[stack.stack_id] = stack  # still there, as on AWS, to be deleted again once the cause is fixed
            stack.status = "DELETE_FAILED"
            stack._add_stack_event(stack.status, resource_status_reason=f"The following resource(s) failed to delete: [{failure.logical_id}]. ")
        finally:
            if stack is not None:
                _DELETING.pop(stack.stack_id, None)

    def acknowledged(original_request: Callable[..., Any]) -> Callable[..., Any]:
        """CreateStack and CreateChangeSet refused, as on AWS, when the template's IAM resources are not acknowledged."""

        @functools.wraps(original_request)
        def request(self: Any) -> Any:
            body = self._get_param("TemplateBody")
            if body:
                try:
                    template = models.Stack.parse_template(body)
                except Exception:  # noqa: BLE001 - moto answers an unreadable template with its own error
                    template = None
                refusal = cloudformation.missing_capability(template or {}, self._get_param("Capabilities", []) or [])
                if refusal:
                    raise cfn.InsufficientCapabilities(refusal)
            return original_request(self)

        return request

    responses_class = cfn.responses.CloudFormationResponse
    responses_class.create_stack = acknowledged(responses_class.create_stack)
    responses_class.create_change_set = acknowledged(responses_class.create_change_set)
    for function in (create_resource, delete_resource, delete_resources, create_resources, update, create_stack, create_change_set,
                     execute_change_set, delete_stack):
        function._walkthrough = True  # type: ignore[attr-defined]
    parsing.parse_and_create_resource = create_resource
    parsing.ResourceMap._delete_resource = delete_resource
    parsing.ResourceMap.delete = delete_resources
    models.Stack.create_resources = create_resources
    models.Stack.update = update
    backend_class.create_stack = create_stack
    backend_class.create_change_set = create_change_set
    backend_class.execute_change_set = execute_change_set
    backend_class.delete_stack = delete_stack
