"""Every use of moto's internals, in one place.

moto provides the control planes; the emulator needs three things from inside
it that moto has no public hook for:

1. ``LambdaFunction.invoke`` (every Invoke API call) is replaced so the code
   runs in ``runtime.WorkerPool`` instead of Docker;
2. ``moto.s3.notifications._invoke_awslambda`` (S3 -> Lambda notifications,
   called synchronously inside the upload request) is replaced so the event is
   handed to the asynchronous dispatcher and the upload returns at once;
3. a function's deployed zip, layers and configuration are read from moto's
   ``LambdaFunction`` (``code_bytes``, ``layers``, ...) and its layer backend;
4. CloudFront: moto's ``Origin`` drops ``OriginAccessControlId`` and
   ``S3OriginConfig`` (so GetDistribution returns neither and the emulator
   could not tell how an origin is reached); ``Origin.__init__`` is wrapped to
   keep both. Distributions and origin access controls are read from the
   CloudFront backend to serve their content;
5. read-only views of API Gateway REST APIs (resources, methods,
   integrations, stages) and of S3 buckets (policy, Block Public Access,
   ACLs), for routing API requests and judging anonymous or CloudFront reads;
6. Lambda: moto ignores a function's ``LoggingConfig``; ``LambdaFunction``'s
   ``__init__``, ``update_configuration`` and ``get_configuration`` are wrapped
   to keep and answer it, and ``spec_of`` hands it to the runtime.

Everything handed out of this module is plain data (dataclasses of strings,
tuples and dicts), never a moto object, except the ``LambdaFunction`` that
``find_function`` returns for the runtime.

``check_internals`` verifies each of these still exists; a test calls it so a
moto upgrade that moves one fails with a message naming it.
"""

from __future__ import annotations

import inspect
import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

# Must be set before moto's IAM backend is imported: AWS managed policies
# (AmazonS3FullAccess, ...) only exist when moto loads them at start.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from moto.apigateway import models as apigateway_models  # noqa: E402
from moto.awslambda import models as lambda_models  # noqa: E402
from moto.awslambda.utils import get_backend as lambda_backend  # noqa: E402
from moto.cloudfront import models as cloudfront_models  # noqa: E402
from moto.s3 import models as s3_models  # noqa: E402
from moto.s3 import notifications as s3_notifications  # noqa: E402
from moto.s3control import models as s3control_models  # noqa: E402

from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402

from walkthrough.emulator.runtime import FunctionCode, FunctionSpec, InvocationResult, LoggingConfig  # noqa: E402

#: (module or class, attribute, what the emulator uses it for)
INTERNALS: list[tuple[Any, str, str]] = [
    (lambda_models.LambdaFunction, "invoke", "runs every Lambda invocation"),
    (s3_notifications, "_invoke_awslambda", "delivers S3 notifications to Lambda"),
    (s3_notifications, "send_event", "matches notification filters and builds S3 events"),
    (lambda_models.LambdaBackend, "layers_versions_by_arn", "finds a layer version's zip"),
    (lambda_models.LambdaBackend, "get_function", "finds the function an S3 event names"),
    (cloudfront_models, "cloudfront_backends", "finds CloudFront distributions and origin access controls"),
    (cloudfront_models.Origin, "__init__", "keeps an origin's OriginAccessControlId and S3OriginConfig"),
    (lambda_models.LambdaFunction, "update_configuration", "keeps a function's LoggingConfig (issue 14)"),
    (lambda_models.LambdaFunction, "get_configuration", "answers a function's LoggingConfig (issue 14)"),
    (apigateway_models, "apigateway_backends", "routes requests to a REST API's stages"),
    (apigateway_models.Resource, "get_path", "matches a request to an API resource"),
    (s3_models, "s3_backends", "reads a bucket's policy, Block Public Access and ACLs"),
    (s3_models, "FakeKey", "tells an object from a delete marker"),
    (s3control_models, "s3control_backends", "reads the account's Block Public Access"),
]

#: Attributes read from live backends of the default account: (what, backend factory, attributes).
BACKEND_ATTRIBUTES: list[tuple[str, Callable[[], Any], tuple[str, ...]]] = [
    ("CloudFrontBackend", lambda: cloudfront_models.cloudfront_backends[DEFAULT_ACCOUNT_ID]["aws"], ("distributions", "origin_access_controls")),
    ("APIGatewayBackend", lambda: apigateway_models.apigateway_backends[DEFAULT_ACCOUNT_ID]["us-east-1"], ("apis",)),
    ("S3Backend", lambda: s3_models.s3_backends[DEFAULT_ACCOUNT_ID]["aws"], ("get_bucket",)),
    ("S3ControlBackend", lambda: s3control_models.s3control_backends[DEFAULT_ACCOUNT_ID]["aws"], ("public_access_block",)),
]

#: Attributes read from model instances (a changed one surfaces as ``MotoInternalsChanged`` naming it).
DISTRIBUTION_ATTRIBUTES = ("distribution_id", "arn", "domain_name", "etag", "status", "distribution_config")
ORIGIN_ATTRIBUTES = ("id", "domain_name", "origin_path", "s3_access_identity")
BEHAVIOUR_ATTRIBUTES = ("target_origin_id", "viewer_protocol_policy", "allowed_methods")
REST_API_ATTRIBUTES = ("id", "name", "resources", "stages", "binaryMediaTypes", "account_id", "region_name")
RESOURCE_ATTRIBUTES = ("id", "path_part", "resource_methods")
METHOD_ATTRIBUTES = ("http_method", "authorization_type", "api_key_required", "method_integration")
BUCKET_ATTRIBUTES = ("name", "account_id", "region_name", "policy", "public_access_block", "acl", "ownership_rule", "keys")

#: Attributes read from a ``LambdaFunction`` instance (checked on a live one by the tests).
FUNCTION_ATTRIBUTES = (
    "function_name", "function_arn", "version", "handler", "run_time", "timeout", "memory_size",
    "environment_vars", "role", "code_sha_256", "code_bytes", "layers", "region", "account_id",
)


def check_internals(function: Any | None = None) -> list[str]:
    """Names of the moto internals the emulator relies on that are missing or changed."""
    problems = [f"{getattr(owner, '__name__', owner)}.{name} ({why})" for owner, name, why in INTERNALS if not hasattr(owner, name)]
    if hasattr(s3_notifications, "_invoke_awslambda"):
        params = list(inspect.signature(_ORIGINAL_S3_INVOKE).parameters)
        if params[:4] != ["account_id", "event_body", "fn_arn", "region_name"]:
            problems.append(f"moto.s3.notifications._invoke_awslambda{params} (expected account_id, event_body, fn_arn, region_name)")
    if hasattr(lambda_models.LambdaFunction, "invoke"):
        params = list(inspect.signature(_ORIGINAL_LAMBDA_INVOKE).parameters)
        if params[:4] != ["self", "body", "request_headers", "response_headers"]:
            problems.append(f"moto LambdaFunction.invoke{params} (expected self, body, request_headers, response_headers)")
    if function is not None:
        problems += [f"LambdaFunction.{a} (function configuration)" for a in FUNCTION_ATTRIBUTES if not hasattr(function, a)]
    for what, backend, attributes in BACKEND_ATTRIBUTES:
        try:
            live = backend()
        except Exception as exc:  # noqa: BLE001 - report, do not crash the check
            problems.append(f"{what} ({exc})")
            continue
        problems += [f"{what}.{a}" for a in attributes if not hasattr(live, a)]
    params = list(inspect.signature(_ORIGINAL_ORIGIN_INIT).parameters)
    if params[:2] != ["self", "origin"]:
        problems.append(f"moto.cloudfront.models.Origin.__init__{params} (expected self, origin)")
    return problems


_ORIGINAL_LAMBDA_INVOKE = getattr(lambda_models.LambdaFunction, "invoke", None)
_ORIGINAL_S3_INVOKE = getattr(s3_notifications, "_invoke_awslambda", None)
_ORIGINAL_ORIGIN_INIT = getattr(cloudfront_models.Origin, "__init__", None)


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


SyncInvoke = Callable[[Any, Any, int], InvocationResult]
AsyncInvoke = Callable[[str, str, str, Any], None]


def install(run_now: Callable[[Any, Any], InvocationResult], run_later: AsyncInvoke) -> None:
    """Route moto's Lambda invocations and S3 notifications to the emulator's runtime.

    ``run_now(function, event)`` runs a RequestResponse invocation and returns
    its result; ``run_later(account_id, region, arn, event)`` queues an
    asynchronous one (InvocationType=Event, S3 notifications).
    """
    problems = check_internals()
    if problems:
        raise RuntimeError("moto internals changed; the emulator cannot hook: " + "; ".join(problems))

    def invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> bytes:
        event = json.loads(body) if body else {}
        invocation_type = (request_headers or {}).get("x-amz-invocation-type") or (request_headers or {}).get("X-Amz-Invocation-Type") or "RequestResponse"
        response_headers["x-amz-executed-version"] = str(self.version)
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":
            run_later(self.account_id, self.region, self.function_arn, event)
            return b""
        result = run_now(self, event)
        if not result.ok:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-log-result"] = result.log_tail_b64
        return result.payload

    def s3_invoke(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
        run_later(account_id, region_name, fn_arn, event_body)

    lambda_models.LambdaFunction.invoke = invoke  # type: ignore[method-assign]
    s3_notifications._invoke_awslambda = s3_invoke  # type: ignore[attr-defined]
    keep_origin_access()
    keep_logging_config()  # issue 14: LoggingConfig (JSON logs, levels) is stored and honoured
    serve_public_layers()  # issue 6: Klayers' Pillow ARNs work on the emulator
    disable_moto_authorization()  # issue 7: function calls are authorized by roles.py, nothing else


def keep_origin_access() -> None:
    """Make moto's CloudFront ``Origin`` keep ``OriginAccessControlId`` and ``S3OriginConfig``.

    moto 5.2 parses both from a distribution's configuration and then drops
    them, so GetDistribution(Config) answers without them and an update that
    round-trips the configuration loses the origin's access. The serializer
    reads ``origin_access_control_id`` and ``s3_origin_config`` attributes.
    """
    original = _ORIGINAL_ORIGIN_INIT
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


def keep_logging_config() -> None:
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


class MotoInternalsChanged(RuntimeError):
    """A moto model no longer has an attribute the emulator reads (moto was upgraded)."""


def _read(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name)
    except AttributeError:
        raise MotoInternalsChanged(f"moto {type(obj).__name__}.{name} is gone; the emulator needs it") from None


def _require(obj: Any, names: tuple[str, ...]) -> None:
    missing = [n for n in names if not hasattr(obj, n)]
    if missing:
        raise MotoInternalsChanged(f"moto {type(obj).__name__} lacks {', '.join(missing)}; the emulator needs them")


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

    def origin(self, origin_id: str) -> OriginView | None:
        return next((o for o in self.origins if o.id == origin_id), None)


def _behaviour(behaviour: Any, pattern: str) -> BehaviourView:
    _require(behaviour, BEHAVIOUR_ATTRIBUTES)
    methods = getattr(behaviour.allowed_methods, "items", None) or ["GET", "HEAD"]
    return BehaviourView(pattern, behaviour.target_origin_id, behaviour.viewer_protocol_policy or "allow-all", tuple(str(m).upper() for m in methods))


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


# =========================================================================== public Klayers layers
# (issue 6 — "Real AWS": the document's layer ARN works on the emulator as written)
#
# The document attaches Klayers' public Pillow layer by ARN, in Klayers' account.
# moto looks a layer version up by name and version in the caller's own account,
# so ``create_function`` with that ARN fails ("One or more LayerVersion does not
# exist"). ``LambdaBackend.layers_versions_by_arn`` (used by
# ``LambdaFunction._get_layers_data`` when a function is created or updated, and
# by ``code_of`` above) is wrapped: an ARN of Klayers' Python 3.12 Pillow layer,
# any version and region, resolves to a stand-in version holding this
# environment's Pillow (the same zip as ``layer.build_local_pillow_zip()``).

import functools as _functools  # noqa: E402
import re as _re  # noqa: E402

KLAYERS_ACCOUNT = "770693421928"
#: Klayers' Python 3.12 Pillow layer, any region and version (Klayers has spelt it Pillow and pillow).
PUBLIC_PILLOW_LAYER = _re.compile(r"^arn:aws:lambda:([a-z0-9-]+):770693421928:layer:(Klayers-p312-pillow):(\d+)$", _re.IGNORECASE)

INTERNALS += [  # noqa: F405 - appended to the list above
    (lambda_models.LambdaBackend, "layers_versions_by_arn", "resolves public Klayers Pillow ARNs (wrapped)"),
    (lambda_models.LambdaFunction, "_get_layers_data", "validates a function's layers through layers_versions_by_arn"),
]


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
        from walkthrough.packaging import code_sha256

        return code_sha256(self.code_bytes)


@_functools.lru_cache(maxsize=1)
def _local_pillow_zip() -> bytes:
    from walkthrough.packaging import build_local_pillow_zip  # no AWS imports: safe in the emulator

    return build_local_pillow_zip()


def public_layer_version(arn: str) -> PublicLayerVersion | None:
    """The stand-in for a public Klayers Pillow layer version, or None for any other ARN."""
    match = PUBLIC_PILLOW_LAYER.match(arn or "")
    if match is None:
        return None
    return PublicLayerVersion(arn=arn, version=int(match.group(3)), code_bytes=_local_pillow_zip())


def serve_public_layers() -> None:
    """Wrap ``LambdaBackend.layers_versions_by_arn`` so Klayers' Pillow ARNs resolve (idempotent)."""
    original = lambda_models.LambdaBackend.layers_versions_by_arn
    if getattr(original, "_walkthrough", False):
        return
    params = list(inspect.signature(original).parameters)
    if params[:2] != ["self", "layer_version_arn"]:
        raise RuntimeError(f"moto internals changed: LambdaBackend.layers_versions_by_arn{params} (expected self, layer_version_arn)")

    def layers_versions_by_arn(self: Any, layer_version_arn: str) -> Any:
        found = original(self, layer_version_arn)
        return found if found is not None else public_layer_version(layer_version_arn)

    layers_versions_by_arn._walkthrough = True  # type: ignore[attr-defined]
    lambda_models.LambdaBackend.layers_versions_by_arn = layers_versions_by_arn  # type: ignore[method-assign]


# =========================================================================== function roles and asynchronous settings
# (issue 7 — "Evidence under load, faults and least privilege")
#
# 1. A function runs with temporary credentials of its execution role. They are
#    minted directly in moto's STS backend (``STSBackend.assume_role``): calling
#    sts:AssumeRole as a user on a role trusted only by lambda.amazonaws.com
#    crashes moto's trust check. moto maps the minted key to the role's account
#    (``iam_backends[...].access_keys``) and GetCallerIdentity answers with the
#    assumed-role ARN, as on Lambda.
# 2. The role's permission policies (inline and attached, AWS managed included)
#    are read as plain documents; ``roles.py`` evaluates them. moto's own IAM
#    authorization stays off (``INITIAL_NO_AUTH_ACTION_COUNT`` infinite): it
#    would check the tutorial's fake ``testing`` keys too, and it evaluates
#    DynamoDB and CloudWatch Logs calls against resource "*", so a policy scoped
#    to a table or a log group could never allow anything.
# 3. A function's asynchronous settings: ``event_invoke_config`` (the list moto
#    appends to on every Put; the last one is the current configuration) and
#    ``reserved_concurrency``.

from datetime import timezone as _timezone  # noqa: E402

from moto import settings as _moto_settings  # noqa: E402
from moto.iam import models as _iam_models  # noqa: E402
from moto.sts import models as _sts_models  # noqa: E402

INTERNALS += [  # noqa: F405 - appended to the list above
    (_sts_models, "sts_backends", "mints a function's execution-role credentials"),
    (_sts_models.STSBackend, "assume_role", "mints a function's execution-role credentials"),
    (_iam_models, "iam_backends", "reads a function role's permission policies"),
    (_iam_models.IAMBackend, "get_role_by_arn", "finds a function's execution role"),
    (lambda_models, "EventInvokeConfig", "a function's retry attempts, event age and destinations"),
    (_moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", "keeps moto's own IAM authorization off"),
]
#: Attributes read from moto's Role, a managed policy's versions, an assumed role and a function.
ROLE_ATTRIBUTES = ("arn", "policies", "managed_policies")
POLICY_VERSION_ATTRIBUTES = ("is_default", "document")
ASSUMED_ROLE_ATTRIBUTES = ("access_key_id", "secret_access_key", "session_token", "expiration", "arn")
ASYNC_FUNCTION_ATTRIBUTES = ("event_invoke_config", "reserved_concurrency")
DEFAULT_MAX_RETRY_ATTEMPTS = 2  # Lambda's defaults for asynchronous invocations
DEFAULT_MAX_EVENT_AGE_S = 21600


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
    backend = _sts_models.sts_backends[account][partition]
    assumed = backend.assume_role(
        region_name=region, role_session_name=session_name[:64], role_arn=role_arn,
        policy=None, duration=duration_s, external_id=None,
    )
    _require(assumed, ASSUMED_ROLE_ATTRIBUTES)
    expiration = assumed.expiration
    return RoleCredentials(
        assumed.access_key_id, assumed.secret_access_key, assumed.session_token,
        expiration.replace(tzinfo=expiration.tzinfo or _timezone.utc).timestamp(), assumed.arn,
    )


def role_policy_documents(role_arn: str) -> list[dict[str, Any]] | None:
    """Every permission policy document of a role (inline, then attached), or None when the role is gone."""
    account, partition = _account_and_partition(role_arn)
    try:
        role = _iam_models.iam_backends[account][partition].get_role_by_arn(role_arn)
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
    from urllib.parse import unquote

    text = str(document)
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(unquote(text))  # documents can arrive URL-encoded


def async_settings_of(function: Any) -> AsyncSettings:
    """The function's retry attempts, maximum event age, destinations and reserved concurrency."""
    _require(function, ASYNC_FUNCTION_ATTRIBUTES)
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


def check_role_internals(function: Any | None = None) -> list[str]:
    """The instance attributes this block reads, checked on a live function and a freshly minted credential."""
    problems = []
    if function is not None:
        problems += [f"LambdaFunction.{a} (asynchronous settings)" for a in ASYNC_FUNCTION_ATTRIBUTES if not hasattr(function, a)]
        try:
            role = _iam_models.iam_backends[function.account_id]["aws"].get_role_by_arn(function.role)
            problems += [f"Role.{a}" for a in ROLE_ATTRIBUTES if not hasattr(role, a)]
        except Exception as exc:  # noqa: BLE001
            problems.append(f"IAMBackend.get_role_by_arn ({exc})")
        try:
            mint_role_credentials(function.role, function.function_name, function.region)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"STSBackend.assume_role ({exc})")
    return problems


def disable_moto_authorization() -> None:
    """Keep moto's own IAM authorization off: the emulator authorizes function calls itself (roles.py)."""
    _moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
