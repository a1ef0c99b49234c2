"""API Gateway REST APIs served on loopback, routed to their Lambda proxy integrations.

moto keeps REST APIs, resources, methods, integrations, deployments and
stages, and routes nothing in server mode. Here a deployed stage answers at
``http://127.0.0.1:<port>/_walkthrough/apigateway/<restApiId>/<stage>/<path>``
and ``http://<restApiId>.execute-api.localhost:<port>/<stage>/<path>``:

- the request is matched to a resource of the stage's deployment (a literal
  segment beats ``{param}``, which beats ``{proxy+}``; a trailing slash does
  not matter) and to its method, or ``ANY``. Deployments are snapshots, as on
  AWS: a method added after ``create_deployment`` is not live until the next
  deployment;
- an unknown API or stage is 403 ``{"message":"Forbidden"}``, an unknown
  resource or method 403 ``{"message":"Missing Authentication Token"}``
  (API Gateway's answers); an ``AWS_IAM`` method without a signature is the
  latter, an API-key method without ``x-api-key`` the former;
- an ``AWS_PROXY`` Lambda integration gets the proxy event (payload format
  1.0) and runs synchronously in the emulator's runtime. The function must
  have granted ``apigateway.amazonaws.com`` permission for
  ``arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}/{resource}``
  (wildcards allowed), else 500 ``{"message": "Internal server error"}``
  ("Invalid permissions on Lambda function", in the emulator's log). A
  function error or a malformed response (not an object; keys other than
  statusCode, headers, multiValueHeaders, body, isBase64Encoded; a body
  that is not a string) is 502 ``{"message": "Internal server error"}``.
  Other integration types are not served (500, logged).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import parse_qsl

from botocore.exceptions import ClientError

from walkthrough.emulator import moto_internals, policies
from walkthrough.emulator.clients import InternalClients
from walkthrough.emulator.urls import APIGATEWAY_HOST_SUFFIX, APIGATEWAY_PREFIX
from walkthrough.emulator.wsgi import read_body, request_path, respond, signing_service

log = logging.getLogger("walkthrough.emulator.apigateway")

SERVICE_PRINCIPAL = "apigateway.amazonaws.com"
RESPONSE_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
_LAMBDA_URI = re.compile(r"^arn:aws[a-z-]*:apigateway:(?P<region>[^:]+):lambda:path/2015-03-31/functions/(?P<function>.+)/invocations$")
_AWS_HOST = re.compile(r"^(?P<api>[a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com$")
_DEPLOYMENTS = re.compile(r"^/restapis/(?P<api>[^/]+)/deployments/?$")

Invoke = Callable[[Any, Any], Any]  # (moto function, event) -> runtime.InvocationResult


class ApiError(Exception):
    def __init__(self, status: int, message: str, error_type: str) -> None:
        super().__init__(message)
        self.status, self.message, self.error_type = status, message, error_type


def forbidden() -> ApiError:
    return ApiError(403, "Forbidden", "ForbiddenException")


def missing_token() -> ApiError:
    return ApiError(403, "Missing Authentication Token", "MissingAuthenticationTokenException")


def internal_error(status: int = 500) -> ApiError:
    return ApiError(status, "Internal server error", "InternalServerErrorException")


# -------------------------------------------------------------------- routing


def _rank(part: str) -> int:
    if part.startswith("{") and part.endswith("+}"):
        return 2
    return 1 if part.startswith("{") and part.endswith("}") else 0


def _match_template(parts: list[str], segments: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for index, part in enumerate(parts):
        if _rank(part) == 2:
            if index != len(parts) - 1 or len(segments) <= index:
                return None
            params[part[1:-2]] = "/".join(segments[index:])
            return params
        if index >= len(segments):
            return None
        if _rank(part) == 1:
            params[part[1:-1]] = segments[index]
        elif part != segments[index]:
            return None
    return params if len(parts) == len(segments) else None


def match_route(resources: Iterable[moto_internals.ResourceView], path: str) -> tuple[moto_internals.ResourceView, dict[str, str]] | None:
    """The most specific resource matching ``path`` and its path parameters, or None."""
    segments = [s for s in path.split("/") if s]
    best: tuple[tuple[int, ...], moto_internals.ResourceView, dict[str, str]] | None = None
    for resource in resources:
        parts = [p for p in resource.path.split("/") if p]
        params = _match_template(parts, segments)
        if params is None:
            continue
        rank = tuple(_rank(p) for p in parts)
        if best is None or rank < best[0]:
            best = (rank, resource, params)
    return (best[1], best[2]) if best else None


def source_arn(api: moto_internals.RestApiView, stage: str, method: str, resource_path: str) -> str:
    """The execute-api ARN Lambda sees as the source of the invocation."""
    return f"arn:aws:execute-api:{api.region}:{api.account_id}:{api.id}/{stage}/{method}/{resource_path.lstrip('/')}"


def _binary(media_types: Iterable[str], content_type: str) -> bool:
    content_type = content_type.split(";")[0].strip().lower()
    return bool(content_type) and any(policies.matches(t.replace("~1", "/").lower(), content_type) for t in media_types)


# ---------------------------------------------------------------- event & reply


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers["-".join(w.capitalize() for w in key[5:].split("_"))] = str(value)
    for key, name in (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length")):
        if environ.get(key):
            headers[name] = str(environ[key])
    headers.setdefault("X-Forwarded-For", str(environ.get("REMOTE_ADDR", "127.0.0.1")))
    headers.setdefault("X-Forwarded-Proto", str(environ.get("wsgi.url_scheme", "http")))
    headers.setdefault("X-Forwarded-Port", str(environ.get("SERVER_PORT", "")))
    return headers


def proxy_event(environ: Mapping[str, Any], body: bytes, api: moto_internals.RestApiView, stage: moto_internals.StageView,
                resource: moto_internals.ResourceView, path: str, params: dict[str, str], request_id: str) -> dict[str, Any]:
    """The Lambda proxy integration's event, payload format 1.0."""
    method = str(environ.get("REQUEST_METHOD", "GET")).upper()
    headers = _headers(environ)
    pairs = parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for name, value in pairs:
        multi_query.setdefault(name, []).append(value)
    content_type = headers.get("Content-Type", "")
    encoded = bool(body) and _binary(api.binary_media_types, content_type)
    text = base64.b64encode(body).decode() if encoded else (body.decode("utf-8", "replace") if body else None)
    now = datetime.now(timezone.utc)
    source_ip = str(environ.get("REMOTE_ADDR", "127.0.0.1"))
    return {
        "resource": resource.path,
        "path": path,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": params or None,
        "stageVariables": dict(stage.variables) or None,
        "requestContext": {
            "resourceId": resource.id,
            "resourcePath": resource.path,
            "httpMethod": method,
            "extendedRequestId": secrets.token_urlsafe(12)[:16],
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{stage.name}{path}",
            "accountId": api.account_id,
            "protocol": str(environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
            "stage": stage.name,
            "domainPrefix": api.id,
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None, "accountId": None, "cognitoIdentityId": None, "caller": None,
                "sourceIp": source_ip, "principalOrgId": None, "accessKey": None, "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None, "userArn": None, "userAgent": headers.get("User-Agent"), "user": None,
                "apiKey": headers.get("X-Api-Key"),
            },
            "domainName": headers.get("Host", ""),
            "apiId": api.id,
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


def proxy_reply(payload: bytes, accept: str, binary_media_types: Iterable[str]) -> tuple[int, list[tuple[str, str]], bytes]:
    """The HTTP answer a Lambda proxy response asks for; raises 502 when it is malformed."""
    try:
        reply = json.loads(payload or b"null")
    except ValueError:
        raise internal_error(502) from None
    if not isinstance(reply, dict) or set(reply) - RESPONSE_KEYS:
        raise internal_error(502)
    status = reply.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise internal_error(502)
    body = reply.get("body")
    if body is not None and not isinstance(body, str):
        raise internal_error(502)
    headers: list[tuple[str, str]] = []
    single, multi = reply.get("headers") or {}, reply.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise internal_error(502)
    for name, values in multi.items():
        for value in values if isinstance(values, list) else [values]:
            headers.append((str(name), _header_value(value)))
    for name, value in single.items():
        if not any(k.lower() == str(name).lower() for k, _ in headers):
            headers.append((str(name), _header_value(value)))
    data = (body or "").encode()
    if reply.get("isBase64Encoded") and body:
        wanted = [t.strip() for t in accept.split(",") if t.strip()]
        if any(_binary(binary_media_types, t) for t in wanted) or "*/*" in [t.replace("~1", "/") for t in binary_media_types]:
            try:
                data = base64.b64decode(body, validate=True)
            except ValueError:
                raise internal_error(502) from None
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return status, headers, data


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        raise internal_error(502)
    return "" if value is None else str(value)


# ----------------------------------------------------------------- the layer


class ApiGateway:
    """The WSGI layer for API Gateway: stage requests, and deployment snapshots."""

    def __init__(self, invoke: Invoke, clients: InternalClients) -> None:
        self._invoke = invoke
        self._clients = clients
        self._snapshots: dict[tuple[str, str], tuple[moto_internals.ResourceView, ...]] = {}
        self._lock = threading.Lock()

    # ----------------------------------------------------------- control plane

    def control(self, environ: dict[str, Any], start_response: Callable[..., Any], app: Callable[..., Iterable[bytes]]) -> Iterable[bytes] | None:
        path = environ.get("PATH_INFO", "")
        if path == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
            with self._lock:
                self._snapshots.clear()
            return None
        match = _DEPLOYMENTS.match(path)
        if not match or environ.get("REQUEST_METHOD") != "POST" or signing_service(environ) != "apigateway":
            return None
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = status
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        chunks = list(app(environ, capture))
        if str(captured.get("status", "")).startswith(("200", "201")):
            try:
                deployment_id = json.loads(b"".join(chunks))["id"]
                api = moto_internals.find_rest_api(moto_internals.DEFAULT_ACCOUNT_ID, match.group("api"))
                if api is not None:
                    with self._lock:
                        self._snapshots[(api.id, deployment_id)] = api.resources
            except (ValueError, KeyError, TypeError):
                log.warning("could not snapshot the deployment of %s", match.group("api"))
        return chunks

    # ------------------------------------------------------------- data plane

    def serve(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes] | None:
        """Stage requests (path form or host form); None when the request is not one."""
        path = environ.get("PATH_INFO", "") or "/"
        host = environ.get("HTTP_HOST", "").split(":")[0].lower()
        if path.startswith(APIGATEWAY_PREFIX):
            api_id, _, rest = path[len(APIGATEWAY_PREFIX):].partition("/")
        elif host.endswith(APIGATEWAY_HOST_SUFFIX):
            api_id, rest = host[: -len(APIGATEWAY_HOST_SUFFIX)].split(".")[-1], path.lstrip("/")
        elif (aws_host := _AWS_HOST.match(host)) is not None and not path.startswith("/@connections"):
            api_id, rest = aws_host.group("api"), path.lstrip("/")
        else:
            return None
        stage_name, _, resource_path = rest.partition("/")
        request_id = str(uuid.uuid4())
        common = [("x-amzn-RequestId", request_id), ("x-amz-apigw-id", secrets.token_urlsafe(12)[:16])]
        head = environ.get("REQUEST_METHOD", "GET").upper() == "HEAD"
        try:
            status, headers, data = self._handle(environ, api_id, stage_name, "/" + request_path(resource_path), request_id)
        except ApiError as error:
            body = json.dumps({"message": error.message}).encode()
            return respond(start_response, error.status, body, [*common, ("x-amzn-ErrorType", error.error_type)], "application/json", head)
        return respond(start_response, status, data, [*common, *headers], None, head)

    def _handle(self, environ: dict[str, Any], api_id: str, stage_name: str, path: str, request_id: str) -> tuple[int, list[tuple[str, str]], bytes]:
        api = moto_internals.find_rest_api(moto_internals.DEFAULT_ACCOUNT_ID, api_id)
        if api is None or not stage_name:
            raise forbidden()
        stage = api.stages.get(request_path(stage_name))
        if stage is None:
            raise forbidden()
        with self._lock:
            resources = self._snapshots.get((api.id, stage.deployment_id), api.resources)
        route = match_route(resources, path)
        if route is None:
            raise missing_token()
        resource, params = route
        method = environ.get("REQUEST_METHOD", "GET").upper()
        spec = resource.methods.get(method) or resource.methods.get("ANY")
        if spec is None:
            raise missing_token()
        if spec.authorization_type == "AWS_IAM" and not environ.get("HTTP_AUTHORIZATION"):
            raise missing_token()
        if spec.api_key_required and not environ.get("HTTP_X_API_KEY"):
            raise forbidden()
        uri = _LAMBDA_URI.match(spec.integration_uri or "")
        if spec.integration_type != "AWS_PROXY" or uri is None:
            log.warning("%s %s on API %s: the emulator serves only AWS_PROXY Lambda integrations (this one: %s %s)",
                        method, resource.path, api.id, spec.integration_type, spec.integration_uri)
            raise internal_error()
        function_arn = _stage_variables(uri.group("function"), stage.variables)
        region = uri.group("region")
        arn = source_arn(api, stage.name, method, resource.path)
        if not self._permitted(region, function_arn, arn, api.account_id):
            log.warning("Execution failed due to configuration error: Invalid permissions on Lambda function %s (source %s)", function_arn, arn)
            raise internal_error()
        try:
            function = moto_internals.find_function(api.account_id, region, function_arn)
        except Exception:  # noqa: BLE001 - moto's not-found error
            log.warning("Execution failed due to configuration error: function %s does not exist", function_arn)
            raise internal_error() from None
        event = proxy_event(environ, read_body(environ), api, stage, resource, path, params, request_id)
        started = time.perf_counter()
        result = self._invoke(function, event)
        log.info("%s %s -> %s (%.0f ms)", method, f"/{stage.name}{path}", function_arn, (time.perf_counter() - started) * 1000)
        if not result.ok:
            log.warning("Lambda execution failed with status 200 due to customer function error: %s", result.payload[:300])
            raise internal_error(502)
        try:
            return proxy_reply(result.payload, environ.get("HTTP_ACCEPT", ""), api.binary_media_types)
        except ApiError:
            log.warning("Execution failed due to configuration error: Malformed Lambda proxy response: %s", result.payload[:300])
            raise

    def _permitted(self, region: str, function_arn: str, source_arn: str, account: str) -> bool:
        """Whether the function's policy lets API Gateway invoke it for this method (``lambda add-permission``)."""
        try:
            policy = json.loads(self._clients("lambda", region).get_policy(FunctionName=function_arn)["Policy"])
        except ClientError:
            return False
        return policies.service_may_invoke(policy, SERVICE_PRINCIPAL, function_arn, source_arn, account)


def _stage_variables(text: str, variables: Mapping[str, str]) -> str:
    return re.sub(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}", lambda m: str(variables.get(m.group(1), "")), text)
