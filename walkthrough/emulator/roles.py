"""A function's execution role: the credentials it runs with, and what they may do.

Lambda runs each execution environment with temporary credentials of the
function's role, and AWS allows or denies each call the function makes by
that role's permission policies. The emulator does the same:

- ``Roles.credentials_for(spec)`` mints credentials for the role in moto's STS
  backend (``moto_internals.mint_role_credentials``) and remembers which function
  each access key belongs to; the worker gets them as ``AWS_ACCESS_KEY_ID``,
  ``AWS_SECRET_ACCESS_KEY`` and ``AWS_SESSION_TOKEN``.
- ``Roles.authorize(environ)`` runs in the WSGI middleware before moto. A
  request signed with a minted key is judged against the role's policies
  (identity-based evaluation: an explicit Deny wins, then an Allow, else the
  implicit deny) for the S3, DynamoDB and CloudWatch Logs actions and resource
  ARNs AWS uses; a refusal is the service's own AccessDenied answer, with
  AWS's message. Requests with any other key (the emulator's own key, which
  its users and internal clients sign with) are not judged at all.
  ``Roles.secret`` gives ``signatures.py`` what it needs to verify the
  function's signatures: the minted secret and session token stay here.
- ``Roles.may_write_logs(spec, stream)``: Lambda delivers a function's log
  only when the role may ``logs:CreateLogStream`` and ``logs:PutLogEvents`` on
  it; without, the log is dropped (and the emulator's log says so once).

Modes (``WALKTHROUGH_EMULATOR_IAM``):

- ``strict`` (default): as AWS, a role may do what its policies allow and
  nothing else; a role without policies may do nothing.
- ``enforce``: the same, except that a role with no permission policy at all
  is left unrestricted, with a warning in the emulator log (for a throwaway
  role in a quick experiment).
- ``off``: nothing is authorized (moto's behaviour); functions still get their
  role's credentials.

Other services a function calls (STS, SQS, Lambda, ...) are not authorized.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Mapping
from urllib.parse import parse_qs, unquote

from walkthrough.emulator import moto_internals, policies
from walkthrough.emulator.runtime import FunctionSpec
from walkthrough.emulator.s3_requests import action_of, s3_target
from walkthrough.emulator.signatures import Secret
from walkthrough.emulator.wsgi import credential_scope, read_body, s3_error

log = logging.getLogger("walkthrough.emulator.roles")

MODES = ("strict", "enforce", "off")
DEFAULT_MODE = "strict"
Decision = policies.Decision
CREDENTIAL_LIFETIME_S = 12 * 3600


@dataclass(frozen=True)
class FunctionCaller:
    """Who is behind a minted access key."""

    access_key_id: str
    role_arn: str
    caller_arn: str  # arn:aws:sts::ACCOUNT:assumed-role/ROLE/FUNCTION
    function_name: str
    function_arn: str
    account_id: str
    #: what ``signatures.py`` verifies the function's requests with
    secret_access_key: str = field(default="", repr=False)
    session_token: str = field(default="", repr=False)


@dataclass(frozen=True)
class Check:
    """One action on one resource that a request needs."""

    action: str
    resource: str
    #: alternative spellings of the same resource (CloudWatch Logs' ``log-group:NAME`` and ``log-group:NAME:*``)
    also: tuple[str, ...] = ()


@dataclass(frozen=True)
class Refusal:
    """A denied request, as the service answers it."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    check: Check


def evaluate(documents: Iterable[Mapping[str, Any]], check: Check, context: Mapping[str, Any] | None = None) -> Decision:
    """The role's identity-based policies' decision for one check (``policies.evaluate_identity``)."""
    return policies.evaluate_identity(documents, check.action, (check.resource, *check.also), context)


# ------------------------------------------------------------------------- what a request needs


def _json_body(environ: dict[str, Any]) -> dict[str, Any]:
    try:
        body = json.loads(read_body(environ) or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def s3_checks(environ: dict[str, Any]) -> list[Check]:
    method = environ.get("REQUEST_METHOD", "GET")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    target = s3_target(environ)
    if target is None:
        return [Check("s3:ListAllMyBuckets", "*")] if method == "GET" else []
    bucket_arn = f"arn:aws:s3:::{target.bucket}"
    if method == "POST":
        if "delete" in query and not target.key:  # DeleteObjects: each key needs s3:DeleteObject
            try:
                root = ET.fromstring(read_body(environ) or b"<Delete/>")
            except ET.ParseError:
                return [Check("s3:DeleteObject", f"{bucket_arn}/*")]
            keys = [e.text or "" for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Key"]
            return [Check("s3:DeleteObject", f"{bucket_arn}/{k}") for k in keys]
        if target.key and ("uploads" in query or "uploadId" in query):
            return [Check("s3:PutObject", f"{bucket_arn}/{target.key}")]
        return []
    action = action_of(method, target, query)
    if action is None:
        return []
    checks = [Check(action, f"{bucket_arn}/{target.key}" if target.key else bucket_arn)]
    source = environ.get("HTTP_X_AMZ_COPY_SOURCE")
    if source and method == "PUT" and target.key:  # CopyObject also reads the source
        source = unquote(source.split("?", 1)[0]).lstrip("/")
        checks.append(Check("s3:GetObject", f"arn:aws:s3:::{source}"))
    return checks


_TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}


def dynamodb_checks(environ: dict[str, Any], operation: str, region: str, account: str) -> list[Check]:
    def table_arn(name: str, index: str | None = None) -> str:
        arn = name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{name}"
        return f"{arn}/index/{index}" if index else arn

    body = _json_body(environ)
    action = f"dynamodb:{operation}"
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [Check(action, table_arn(name)) for name in (body.get("RequestItems") or {})]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        checks = []
        for item in body.get("TransactItems") or []:
            for kind, request in (item or {}).items():
                if isinstance(request, dict) and request.get("TableName"):
                    checks.append(Check(f"dynamodb:{_TRANSACT_ACTIONS.get(kind, kind)}", table_arn(request["TableName"])))
        return checks
    if body.get("TableName"):
        return [Check(action, table_arn(str(body["TableName"]), body.get("IndexName")))]
    if body.get("ResourceArn"):
        return [Check(action, str(body["ResourceArn"]))]
    return [Check(action, "*")]


_STREAM_ACTIONS = {"PutLogEvents", "GetLogEvents", "CreateLogStream", "DeleteLogStream"}


def logs_checks(environ: dict[str, Any], operation: str, region: str, account: str) -> list[Check]:
    body = _json_body(environ)
    action = f"logs:{operation}"
    group = body.get("logGroupName")
    if not group and body.get("logGroupIdentifier"):
        identifier = str(body["logGroupIdentifier"])
        group = identifier.split(":log-group:", 1)[1].removesuffix(":*") if ":log-group:" in identifier else identifier
    if not group:
        return [Check(action, "*")]
    group_arn = f"arn:aws:logs:{region}:{account}:log-group:{group}"
    stream = body.get("logStreamName")
    if operation in _STREAM_ACTIONS and stream:
        return [Check(action, f"{group_arn}:log-stream:{stream}")]
    return [Check(action, group_arn, also=(f"{group_arn}:*",))]


# ------------------------------------------------------------------------- the registry and the middleware layer


class Roles:
    """Minted function credentials, and the authorization of requests made with them."""

    def __init__(self, mode: str = DEFAULT_MODE) -> None:
        if mode not in MODES:
            raise ValueError(f"WALKTHROUGH_EMULATOR_IAM must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self._callers: dict[str, FunctionCaller] = {}
        self._lock = threading.Lock()
        self._warned: set[tuple[str, str]] = set()
        self.denied = 0

    # -- credentials ---------------------------------------------------------------
    def credentials_for(self, spec: FunctionSpec) -> dict[str, str]:
        """Fresh credentials of the function's role for one execution environment (worker)."""
        minted = moto_internals.mint_role_credentials(spec.role, spec.name, spec.region, CREDENTIAL_LIFETIME_S)
        caller = FunctionCaller(minted.access_key_id, spec.role, minted.caller_arn, spec.name, spec.arn, spec.account_id,
                                minted.secret_access_key, minted.session_token)
        with self._lock:
            self._callers[minted.access_key_id] = caller
        return {
            "AWS_ACCESS_KEY_ID": minted.access_key_id,
            "AWS_SECRET_ACCESS_KEY": minted.secret_access_key,
            "AWS_SESSION_TOKEN": minted.session_token,
        }

    def caller(self, access_key_id: str) -> FunctionCaller | None:
        with self._lock:
            return self._callers.get(access_key_id)

    def secret(self, access_key_id: str) -> Secret | None:
        """The secret and session token of credentials minted here (for verifying the function's signatures)."""
        caller = self.caller(access_key_id)
        return Secret(caller.secret_access_key, caller.session_token) if caller else None

    def caller_of(self, environ: Mapping[str, Any]) -> FunctionCaller | None:
        """The function behind a request, when it is signed with a minted key."""
        key = credential_scope(environ)
        return self.caller(key[0]) if key else None

    # -- decisions ---------------------------------------------------------------------
    def _warn_once(self, kind: str, subject: str, message: str, *args: Any) -> None:
        with self._lock:
            if (kind, subject) in self._warned:
                return
            self._warned.add((kind, subject))
        log.warning(message, *args)

    def decide(self, role_arn: str, check: Check, context: Mapping[str, Any] | None = None) -> Decision | Literal["Unrestricted"]:
        """The role's decision for one check ("Unrestricted" when this mode does not judge the role)."""
        if self.mode == "off":
            return "Unrestricted"
        documents = moto_internals.role_policy_documents(role_arn)
        if documents is None:
            return "ImplicitDeny"  # the role is gone: its credentials allow nothing
        if not documents and self.mode == "enforce":
            self._warn_once(
                "bare", role_arn,
                "role %s has no permission policy: the emulator lets its functions do anything "
                "(AWS would deny every call; set WALKTHROUGH_EMULATOR_IAM=strict to do the same)", role_arn,
            )
            return "Unrestricted"
        return evaluate(documents, check, context)

    def allows(self, role_arn: str, check: Check) -> bool:
        return self.decide(role_arn, check) in ("Allow", "Unrestricted")

    def may_write_logs(self, spec: FunctionSpec, stream: str) -> bool:
        """Whether Lambda would deliver this function's log stream (the role may create it and write to it)."""
        arn = f"arn:aws:logs:{spec.region}:{spec.account_id}:log-group:{spec.log_group}:log-stream:{stream}"
        missing = [a for a in ("logs:CreateLogStream", "logs:PutLogEvents") if not self.allows(spec.role, Check(a, arn))]
        if missing:
            self._warn_once(
                "logs", f"{spec.arn} {spec.role}",
                "function %s: its role %s lacks %s on its log group %s, so its log is dropped, as Lambda does",
                spec.name, spec.role, " and ".join(missing), spec.log_group,
            )
            return False
        return True

    # -- the WSGI layer ------------------------------------------------------------------
    def authorize(self, environ: dict[str, Any]) -> Refusal | None:
        """None when the request may go on to moto; otherwise the service's AccessDenied answer."""
        if self.mode == "off":
            return None
        key = credential_scope(environ)
        if key is None:
            return None
        caller = self.caller(key[0])
        if caller is None:
            return None
        _, region, service = key
        operation = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
        if service == "s3":
            checks = s3_checks(environ)
        elif service == "dynamodb" and operation:
            checks = dynamodb_checks(environ, operation, region, caller.account_id)
        elif service == "logs" and operation:
            checks = logs_checks(environ, operation, region, caller.account_id)
        else:
            return None
        context = {
            "aws:PrincipalArn": caller.role_arn, "aws:PrincipalAccount": caller.account_id, "aws:PrincipalType": "AssumedRole",
            "aws:RequestedRegion": region, "aws:SecureTransport": "true", "aws:SourceIp": environ.get("REMOTE_ADDR", "127.0.0.1"),
            "aws:userid": f"AROA:{caller.function_name}",
        }
        for check in checks:
            decision = self.decide(caller.role_arn, check, context)
            if decision in ("Deny", "ImplicitDeny"):
                return self._refuse(caller, service, check, decision, environ)
        if service == "s3" and checks and checks[0].action == "s3:GetObject" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return self._hide_missing_object(caller, environ, context)
        return None

    def _hide_missing_object(self, caller: FunctionCaller, environ: dict[str, Any], context: Mapping[str, Any]) -> Refusal | None:
        """S3 answers a missing key with 403 unless the caller may list the bucket (then 404, from moto)."""
        target = s3_target(environ)
        if target is None or not target.key or moto_internals.find_bucket(target.bucket) is None:
            return None
        if moto_internals.object_public_read(target.bucket, target.key) is not None:
            return None  # the object exists
        listing = Check("s3:ListBucket", f"arn:aws:s3:::{target.bucket}")
        decision = self.decide(caller.role_arn, listing, {**context, "s3:prefix": target.key})
        if decision in ("Allow", "Unrestricted"):
            return None
        return self._refuse(caller, "s3", Check("s3:GetObject", f"arn:aws:s3:::{target.bucket}/{target.key}"), decision, environ, hidden=True)

    def _refuse(self, caller: FunctionCaller, service: str, check: Check, decision: str, environ: dict[str, Any], hidden: bool = False) -> Refusal:
        with self._lock:
            self.denied += 1
        why = "with an explicit deny in an identity-based policy" if decision == "Deny" else f"because no identity-based policy allows the {check.action} action"
        if service == "s3":
            resource = f'"{check.resource}"'
        else:
            resource = check.resource
        message = f"User: {caller.caller_arn} is not authorized to perform: {check.action} on resource: {resource} {why}"
        log.info("denied %s (function %s, role %s): %s on %s", environ.get("REQUEST_METHOD"), caller.function_name, caller.role_arn, check.action, check.resource)
        request_id = uuid.uuid4().hex.upper()[:16]
        if service == "s3":
            body = b"" if environ.get("REQUEST_METHOD") == "HEAD" else s3_error("AccessDenied", "Access Denied" if hidden else message)
            return Refusal(403, [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)], body, check)
        version = "1.0" if service == "dynamodb" else "1.1"
        kind = "com.amazon.coral.service#AccessDeniedException" if service == "dynamodb" else "AccessDeniedException"
        body = json.dumps({"__type": kind, "Message" if service == "dynamodb" else "message": message}).encode()
        return Refusal(400, [("Content-Type", f"application/x-amz-json-{version}"), ("x-amzn-RequestId", request_id)], body, check)


def refusal_response(refusal: Refusal, start_response: Any) -> list[bytes]:
    headers = [*refusal.headers, ("Content-Length", str(len(refusal.body)))]
    reason = "Forbidden" if refusal.status == 403 else "Bad Request"
    start_response(f"{refusal.status} {reason}", headers)
    return [refusal.body]
