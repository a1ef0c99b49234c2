"""The one policy evaluator: identity policies, resource policies, and what S3 counts as public.

Every permission check the emulator makes comes here: a function's role
(identity-based policies: ``evaluate_identity``), and resource-based policies
(``evaluate``): a bucket policy for an anonymous viewer or CloudFront, a
Lambda function's policy for S3's notification validation and for API
Gateway's invocation. Both follow AWS's evaluation logic
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
an explicit Deny wins over any Allow; with neither, the request is implicitly
denied.

Enough of IAM's policy language for the principals the tutorial meets:
anonymous viewers, CloudFront's service principal (origin access control),
an origin access identity (its IAM-style ARN or its S3 canonical user), and
AWS account principals. ``Action`` and ``NotAction`` match without
regard to case, ``Resource`` and ``NotResource`` with it, both with ``*`` and
``?`` wildcards (``*`` crosses ``/``, as in IAM). Condition keys are
case-insensitive; the operators are the string, ARN, Bool, Null, numeric and
IP-address families, with the ``IfExists`` suffix and the ``ForAnyValue:`` /
``ForAllValues:`` prefixes.

``is_public`` says whether a policy is "public" the way S3 Block Public Access
judges it (a wildcard principal not pinned by a fixed-value condition).
Pure functions of plain data: no moto, no boto3.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable, Literal, Mapping

Decision = Literal["Allow", "Deny", "ImplicitDeny"]

#: What ``"Principal": "*"`` and ``{"AWS": "*"}`` mean: everyone, signed or not.
WILDCARD = "*"


@dataclass(frozen=True)
class Caller:
    """Who makes a request, in the forms a policy's ``Principal`` can name."""

    aws: tuple[str, ...] = ()  #: ARNs (and account ids) the caller is known by
    service: str | None = None  #: a service principal, e.g. ``cloudfront.amazonaws.com``
    canonical_user: str | None = None  #: an S3 canonical user id
    account: str | None = None  #: the caller's account (None: anonymous)

    @property
    def anonymous(self) -> bool:
        return not self.aws and self.service is None and self.canonical_user is None

    @staticmethod
    def nobody() -> "Caller":
        return Caller()


@dataclass(frozen=True)
class Request:
    """One action on one resource, with its request context (condition keys)."""

    caller: Caller
    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@lru_cache(maxsize=512)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def matches(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM wildcard match: ``*`` any run of characters (``/`` included), ``?`` one character."""
    return _wildcard(str(pattern), ignore_case).fullmatch(str(value)) is not None


def _principal_matches(principal: Any, caller: Caller) -> bool:
    if principal == WILDCARD:
        return True
    if not isinstance(principal, dict):
        return False
    for kind, values in principal.items():
        for value in _as_list(values):
            value = str(value)
            if kind == "AWS":
                if value == WILDCARD:
                    return True
                if value in caller.aws:
                    return True
                # An account (id or root ARN) names every principal of that account.
                account = value if value.isdigit() else (value.split(":")[4] if value.endswith(":root") and value.count(":") >= 5 else None)
                if account and caller.account == account and not caller.anonymous:
                    return True
            elif kind == "Service" and caller.service is not None and value == caller.service:
                return True
            elif kind == "CanonicalUser" and caller.canonical_user is not None and value == caller.canonical_user:
                return True
    return False


def _statement_applies(statement: Mapping[str, Any], request: Request) -> bool:
    if "Principal" in statement and not _principal_matches(statement["Principal"], request.caller):
        return False
    if "NotPrincipal" in statement and _principal_matches(statement["NotPrincipal"], request.caller):
        return False
    if "Principal" not in statement and "NotPrincipal" not in statement:
        return False  # a resource policy statement without a principal grants nothing
    if "Action" in statement and not any(matches(p, request.action, ignore_case=True) for p in _as_list(statement["Action"])):
        return False
    if "NotAction" in statement and any(matches(p, request.action, ignore_case=True) for p in _as_list(statement["NotAction"])):
        return False
    if "Resource" in statement and not any(matches(p, request.resource) for p in _as_list(statement["Resource"])):
        return False
    if "NotResource" in statement and any(matches(p, request.resource) for p in _as_list(statement["NotResource"])):
        return False
    return conditions_hold(statement.get("Condition") or {}, request.context)


def decide(statements: Iterable[Any], applies: Callable[[Mapping[str, Any]], bool]) -> Decision:
    """IAM's rule over the statements that apply: an explicit ``Deny`` wins, then ``Allow``, else implicit deny."""
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict) or not applies(statement):
            continue
        if statement.get("Effect") == "Deny":
            return "Deny"
        if statement.get("Effect") == "Allow":
            allowed = True
    return "Allow" if allowed else "ImplicitDeny"


def evaluate(policy: Mapping[str, Any] | None, request: Request) -> Decision:
    """A resource policy's decision for one request."""
    return decide(_as_list((policy or {}).get("Statement")), lambda statement: _statement_applies(statement, request))


def allows(policy: Mapping[str, Any] | None, request: Request) -> bool:
    return evaluate(policy, request) == "Allow"


def _identity_statement_applies(statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]) -> bool:
    """An identity policy's statement names no principal (it is the caller's own) but must name actions and resources."""
    if "Action" not in statement and "NotAction" not in statement:
        return False
    if "Resource" not in statement and "NotResource" not in statement:
        return False
    if "Action" in statement and not any(matches(p, action, ignore_case=True) for p in _as_list(statement["Action"])):
        return False
    if "NotAction" in statement and any(matches(p, action, ignore_case=True) for p in _as_list(statement["NotAction"])):
        return False
    if "Resource" in statement and not any(matches(p, resource) for p in _as_list(statement["Resource"])):
        return False
    if "NotResource" in statement and any(matches(p, resource) for p in _as_list(statement["NotResource"])):
        return False
    return conditions_hold(statement.get("Condition") or {}, context)


def evaluate_identity(
    documents: Iterable[Mapping[str, Any]], action: str, resources: Iterable[str], context: Mapping[str, Any] | None = None
) -> Decision:
    """Identity-based policies' decision for one action on one resource, given in any of its spellings.

    ``resources`` lists equivalent ARNs of one resource (CloudWatch Logs names
    a log group both ``log-group:NAME`` and ``log-group:NAME:*``): a statement
    applies when it matches any of them.
    """
    context = context or {}
    spellings = tuple(resources)
    statements = [statement for document in documents for statement in _as_list(document.get("Statement"))]
    return decide(statements, lambda s: any(_identity_statement_applies(s, action, r, context) for r in spellings))


def service_may_invoke(policy: Mapping[str, Any] | None, service: str, function_arn: str, source_arn: str, source_account: str) -> bool:
    """Whether a Lambda function's policy lets ``service`` invoke it on behalf of ``source_arn``.

    The request context carries ``aws:SourceArn`` and ``aws:SourceAccount``, as
    S3 and API Gateway send them, so ``lambda add-permission --source-arn
    --source-account`` conditions are judged as Lambda judges them.
    """
    request = Request(
        Caller(service=service), "lambda:InvokeFunction", function_arn.removesuffix(":$LATEST"),
        {"aws:SourceArn": source_arn, "aws:SourceAccount": source_account},
    )
    return allows(policy, request)


# ---------------------------------------------------------------- conditions


def _lookup(context: Mapping[str, Any], key: str) -> list[str] | None:
    lowered = key.lower()
    for name, value in context.items():
        if name.lower() == lowered:
            return [str(v) for v in _as_list(value)]
    return None


def _in_network(value: str, cidr: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _compare(base: str, actual: str, expected: str) -> bool:
    """One value against one policy value, for an operator without its Not/IfExists/set decorations."""
    if base in ("StringEquals", "ArnEquals"):
        return actual == expected
    if base == "StringEqualsIgnoreCase":
        return actual.lower() == expected.lower()
    if base in ("StringLike", "ArnLike"):
        return matches(expected, actual)
    if base == "Bool":
        return actual.lower() == expected.lower()
    if base == "IpAddress":
        return _in_network(actual, expected)
    if base.startswith("Numeric"):
        a, e = _number(actual), _number(expected)
        if a is None or e is None:
            return False
        return {
            "NumericEquals": a == e, "NumericLessThan": a < e, "NumericLessThanEquals": a <= e,
            "NumericGreaterThan": a > e, "NumericGreaterThanEquals": a >= e,
        }.get(base, False)
    return False


_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NotIpAddress": "IpAddress",
    "NumericNotEquals": "NumericEquals",
}
_KNOWN = {
    "StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike", "Bool", "IpAddress",
    "NumericEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals",
}


def _operator_holds(operator: str, key: str, expected_values: Iterable[Any], context: Mapping[str, Any]) -> bool:
    set_mode = None
    if ":" in operator:
        set_mode, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    expected = [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(expected_values)]
    actual = _lookup(context, key)
    if operator == "Null":
        wants_absent = any(e.lower() == "true" for e in expected)
        return (actual is None) == wants_absent
    negated = operator in _NEGATED
    base = _NEGATED.get(operator, operator)
    if base not in _KNOWN:
        return False  # an operator this evaluator does not know never matches
    if actual is None:
        # A missing key: negated operators hold, positive ones fail (unless ...IfExists).
        return if_exists or negated or set_mode == "ForAllValues"
    def one(value: str) -> bool:
        hit = any(_compare(base, value, e) for e in expected)
        return not hit if negated else hit
    if set_mode == "ForAllValues":
        return all(one(v) for v in actual)
    return any(one(v) for v in actual)


def conditions_hold(condition: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    """Every operator and every key of a ``Condition`` block holds (AND across them)."""
    for operator, keys in condition.items():
        if not isinstance(keys, dict):
            return False
        for key, values in keys.items():
            if not _operator_holds(str(operator), str(key), values, context):
                return False
    return True


# ---------------------------------------------------------- Block Public Access

#: Condition keys that pin a wildcard principal to a fixed set of callers, per S3's "public" rules.
_PINNING_KEYS = {
    "aws:sourcearn", "aws:sourceaccount", "aws:sourceowner", "aws:sourcevpc", "aws:sourcevpce",
    "aws:sourceip", "aws:principalorgid", "aws:principalaccount", "aws:principalarn", "aws:userid",
    "aws:sourceorgid", "aws:sourceorgpaths", "aws:principalorgpaths", "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:dataaccesspointarn", "s3:dataaccesspointaccount",
}
_PINNING_OPERATORS = {"StringEquals", "StringEqualsIgnoreCase", "ArnEquals", "StringLike", "ArnLike", "IpAddress"}


def _wildcard_principal(statement: Mapping[str, Any]) -> bool:
    if "NotPrincipal" in statement:
        return True
    principal = statement.get("Principal")
    if principal == WILDCARD:
        return True
    if isinstance(principal, dict):
        return any("*" in str(v) for v in _as_list(principal.get("AWS")))
    return False


def _pins(operator: str, key: str, values: Any) -> bool:
    if ":" in operator or operator.endswith("IfExists") or operator not in _PINNING_OPERATORS:
        return False
    if key.lower() not in _PINNING_KEYS:
        return False
    values = [str(v) for v in _as_list(values)]
    if not values:
        return False
    if key.lower() == "aws:sourceip":
        for cidr in values:
            try:
                network = ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                return False
            if network.prefixlen < (8 if network.version == 4 else 32):
                return False
        return True
    return not any("*" in v or "?" in v for v in values)


def is_public(policy: Mapping[str, Any] | None) -> bool:
    """Whether S3 Block Public Access counts this policy as public.

    An ``Allow`` with a wildcard principal (``*``, ``{"AWS": "*"}``, a
    wildcard in an AWS principal, or ``NotPrincipal``) is public unless one
    of its conditions pins it to fixed values of a key such as
    ``aws:SourceArn``, ``aws:SourceAccount`` or ``aws:SourceVpc``. A grant to
    a service principal, an account, a role or a canonical user is not.
    """
    for statement in _as_list((policy or {}).get("Statement")):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow" or not _wildcard_principal(statement):
            continue
        condition = statement.get("Condition") or {}
        pinned = any(
            _pins(str(operator), str(key), values)
            for operator, keys in condition.items() if isinstance(keys, dict)
            for key, values in keys.items()
        )
        if not pinned:
            return True
    return False
