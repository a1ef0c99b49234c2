"""CloudFormation's resource handlers where moto's CloudFormation lacks a type or gets it wrong (no moto here).

moto's CloudFormation creates resources by calling its backends directly, so
none of the emulator's checks would meet them, and for several types it has
no model at all, or one that drops properties. On AWS, CloudFormation's
resource handlers call the services' public APIs. Here too: each handler
below creates, updates and deletes its type through the emulator's own API
(``InternalClients``, signed with its key), so a stack meets every check a
user's call meets, with AWS's words: S3 refusing a notification to a function
that has not granted S3 permission ("Unable to validate the following
destination configurations"), Block Public Access refusing a public bucket
policy, CloudFront refusing an origin access control that does not exist,
S3's defaults for new buckets, the role a function runs with.
``moto_internals.install_cloudformation`` registers them as moto's
CloudFormation resource models.

=================================  =============================================================
``AWS::S3::Bucket``                moto's model ignores Block Public Access, ownership and the
                                   notification, and "deletes" a bucket that is not empty
``AWS::S3::BucketPolicy``          moto has none
``AWS::IAM::Role``                 moto's stores an inline policy as Python's text of a dict, which
                                   GetRolePolicy then answers (not JSON), and ignores ManagedPolicyArns
``AWS::Lambda::Function``          moto's model drops Layers, LoggingConfig, Architectures, Tags
``AWS::Lambda::LayerVersion``      moto's ignores LayerName and never deletes the version
``AWS::Lambda::Permission``        moto's picks no statement id and never removes it
``AWS::CloudFront::OriginAccessControl``, ``AWS::CloudFront::Distribution``  moto has none
``AWS::ApiGateway::RestApi``       moto's ignores Tags and never deletes the API
=================================  =============================================================

moto's own models stay for the rest (``AWS::DynamoDB::Table``,
``AWS::Logs::LogGroup``, API Gateway's resources, methods and deployments). A property a handler does not know is refused in one line
rather than ignored.

A failure is reported as CloudFormation's resource handlers word it in a
stack event: ``Resource handler returned message: "<the service's message>
(Service: S3, Status Code: 400, Request ID: …)" (RequestToken: …,
HandlerErrorCode: InvalidRequest)``. ``template_problems`` is CloudFormation's
validation before anything is created (unknown references, circular
dependencies, types nobody here can create).
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
import uuid
import zipfile
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping

from botocore.exceptions import ClientError

from walkthrough.emulator.clients import InternalClients

#: How long a handler waits for CloudFront to deploy a change (the emulator takes a few reads).
DEPLOY_WAIT_S = 30.0
PSEUDO_PARAMETERS = {"AWS::AccountId", "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix",
                     "AWS::NoValue", "AWS::Partition", "AWS::NotificationARNs"}


class ResourceFailed(Exception):
    """A resource could not be created, updated or deleted; ``reason`` is the stack event's status reason."""

    def __init__(self, reason: str, logical_id: str = "", resource_type: str = "") -> None:
        super().__init__(reason)
        self.reason, self.logical_id, self.resource_type = reason, logical_id, resource_type


@dataclass(frozen=True)
class Request:
    """One resource of a stack, as CloudFormation hands it to a handler (properties already resolved)."""

    logical_id: str
    resource_type: str
    physical_name: str  # the template's name, or the one CloudFormation makes: <stack>-<logical id>-<random>
    properties: Mapping[str, Any]
    account_id: str
    region: str
    stack_id: str

    @property
    def stack_name(self) -> str:
        return self.stack_id.split(":stack/", 1)[-1].split("/", 1)[0]

    def tags(self) -> dict[str, str]:
        """The template's ``Tags`` (a list of Key/Value).

        Not CloudFormation's own ``aws:cloudformation:*`` tags: AWS adds those
        by a way no API caller has (S3 refuses ``aws:`` tags from anyone else:
        "System tags cannot be added/updated by requester").
        """
        return {str(t["Key"]): str(t["Value"]) for t in self.properties.get("Tags") or []}


@dataclass
class Created:
    """What a handler made: the physical id (``Ref``) and the attributes ``Fn::GetAtt`` reads."""

    physical_id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)  # what delete and update need (a function name, a version)


def handler_message(exc: ClientError, service: str) -> str:
    """A service error as CloudFormation's resource handlers report it in a stack event."""
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    code = str(error.get("Code", ""))
    status = meta.get("HTTPStatusCode", 400)
    request_id = meta.get("RequestId") or uuid.uuid4().hex.upper()[:16]
    if code in ("AccessDenied", "AccessDeniedException"):
        handler_code = "AccessDenied"
    elif "NotFound" in code or code.startswith("NoSuch"):
        handler_code = "NotFound"
    elif "AlreadyExists" in code or code in ("BucketAlreadyOwnedByYou", "ResourceConflictException"):
        handler_code = "AlreadyExists"
    elif status == 400 or "Invalid" in code or "Validation" in code:
        handler_code = "InvalidRequest"
    else:
        handler_code = "GeneralServiceException"
    return (f'Resource handler returned message: "{error.get("Message") or code} (Service: {service}, Status Code: {status}, '
            f'Request ID: {request_id})" (RequestToken: {uuid.uuid4()}, HandlerErrorCode: {handler_code})')


def _plain_message(message: str, handler_code: str) -> str:
    return f'Resource handler returned message: "{message}" (RequestToken: {uuid.uuid4()}, HandlerErrorCode: {handler_code})'


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _gone(exc: ClientError) -> bool:
    code = _code(exc)
    return "NotFound" in code or code.startswith("NoSuch") or code == "404"


class Handler:
    """One resource type: create, update and delete through the emulator's API."""

    type_name = ""
    service = ""  # as resource handlers name it in messages: S3, Lambda, CloudFront, ApiGateway
    name_property = ""  # the property that names the resource, if the type has one
    properties: frozenset[str] = frozenset()
    attributes: frozenset[str] = frozenset()
    #: Properties whose change needs a new resource; a named resource cannot be replaced (AWS refuses too).
    replacing: frozenset[str] = frozenset()

    def __init__(self, clients: InternalClients) -> None:
        self.clients = clients

    def client(self, request: Request, service: str | None = None) -> Any:
        return self.clients(service or self.client_name, request.region)

    client_name = ""

    # ------------------------------------------------------------- the three operations (call these)

    def create(self, request: Request) -> Created:
        self._check(request)
        try:
            return self._create(request)
        except ClientError as exc:
            raise ResourceFailed(handler_message(exc, self.service), request.logical_id, self.type_name) from None

    def update(self, created: Created, old: Request, new: Request) -> Created:
        self._check(new)
        changed = {k for k in set(old.properties) | set(new.properties) if old.properties.get(k) != new.properties.get(k)}
        try:
            if changed & self.replacing:
                if self.name_property and new.properties.get(self.name_property):
                    raise ResourceFailed(
                        "CloudFormation cannot update a stack when a custom-named resource requires replacing. "
                        f"Rename {new.physical_name} and update the stack again.", new.logical_id, self.type_name)
                replacement = self._create(new)
                self._delete(created, old)
                return replacement
            return self._update(created, old, new, changed) if changed else created
        except ClientError as exc:
            raise ResourceFailed(handler_message(exc, self.service), new.logical_id, self.type_name) from None

    def delete(self, created: Created, request: Request) -> None:
        try:
            self._delete(created, request)
        except ClientError as exc:
            if not _gone(exc):
                raise ResourceFailed(handler_message(exc, self.service), request.logical_id, self.type_name) from None

    def _check(self, request: Request) -> None:
        unknown = sorted(set(request.properties) - self.properties)
        if unknown:
            raise ResourceFailed(
                f"The walkthrough emulator does not handle {', '.join(unknown)} of {self.type_name} "
                f"(it handles {', '.join(sorted(self.properties))}); AWS would.", request.logical_id, self.type_name)

    # ------------------------------------------------------------- what each type does

    def _create(self, request: Request) -> Created:
        raise NotImplementedError

    def _update(self, created: Created, old: Request, new: Request, changed: set[str]) -> Created:
        self._delete(created, old)
        return self._create(new)

    def _delete(self, created: Created, request: Request) -> None:
        raise NotImplementedError


# --------------------------------------------------------------------------- S3


def _notification_api(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """A bucket's ``NotificationConfiguration`` property as PutBucketNotificationConfiguration takes it."""
    kinds = (("LambdaConfigurations", "LambdaFunctionConfigurations", "Function", "LambdaFunctionArn"),
             ("QueueConfigurations", "QueueConfigurations", "Queue", "QueueArn"),
             ("TopicConfigurations", "TopicConfigurations", "Topic", "TopicArn"))
    out: dict[str, Any] = {}
    for cfn_name, api_name, target, api_target in kinds:
        for item in configuration.get(cfn_name) or []:
            # CloudFormation names each configuration itself (the property has no Id)
            entry: dict[str, Any] = {"Id": base64.b64encode(uuid.uuid4().bytes).decode().rstrip("="),
                                     api_target: item[target], "Events": [item["Event"]]}
            rules = ((item.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
            if rules:
                entry["Filter"] = {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}
            out.setdefault(api_name, []).append(entry)
    if configuration.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
        out["EventBridgeConfiguration"] = {}
    return out


class Bucket(Handler):
    type_name, service, client_name, name_property = "AWS::S3::Bucket", "S3", "s3", "BucketName"
    properties = frozenset({"BucketName", "PublicAccessBlockConfiguration", "NotificationConfiguration", "OwnershipControls",
                            "Tags", "VersioningConfiguration", "BucketEncryption"})
    attributes = frozenset({"Arn", "DomainName", "RegionalDomainName", "DualStackDomainName", "WebsiteURL"})
    replacing = frozenset({"BucketName"})

    def _create(self, request: Request) -> Created:
        s3, name = self.client(request), request.physical_name
        try:
            s3.head_bucket(Bucket=name)
        except ClientError as exc:
            if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise
        else:  # CloudFormation does not adopt a bucket that exists (us-east-1's CreateBucket would answer 200)
            raise ResourceFailed(_plain_message(f"{name} already exists", "AlreadyExists"), request.logical_id, self.type_name)
        arguments: dict[str, Any] = {"Bucket": name}
        if request.region != "us-east-1":
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": request.region}
        rules = (request.properties.get("OwnershipControls") or {}).get("Rules") or []
        if rules:
            arguments["ObjectOwnership"] = rules[0]["ObjectOwnership"]
        s3.create_bucket(**arguments)
        try:
            self._configure(request, {*request.properties})
        except (ClientError, ResourceFailed):
            s3.delete_bucket(Bucket=name)  # a failed create leaves nothing behind
            raise
        return self._created(request)

    def _created(self, request: Request) -> Created:
        name, region = request.physical_name, request.region
        return Created(name, {
            "Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
            "DualStackDomainName": f"{name}.s3.dualstack.{region}.amazonaws.com",
            "WebsiteURL": f"http://{name}.s3-website-{region}.amazonaws.com",
        })

    def _configure(self, request: Request, which: set[str]) -> None:
        s3, name, properties = self.client(request), request.physical_name, request.properties
        if "PublicAccessBlockConfiguration" in which:
            if properties.get("PublicAccessBlockConfiguration"):
                s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=dict(properties["PublicAccessBlockConfiguration"]))
            else:
                s3.delete_public_access_block(Bucket=name)
        if "OwnershipControls" in which and properties.get("OwnershipControls"):
            s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=dict(properties["OwnershipControls"]))
        if "VersioningConfiguration" in which and properties.get("VersioningConfiguration"):
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": properties["VersioningConfiguration"]["Status"]})
        if "BucketEncryption" in which and properties.get("BucketEncryption"):
            rules = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": list(rules)})
        if "Tags" in which or not which - {"BucketName"}:
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in request.tags().items()]})
        if "NotificationConfiguration" in which:
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration=_notification_api(properties.get("NotificationConfiguration") or {}))

    def _update(self, created: Created, old: Request, new: Request, changed: set[str]) -> Created:
        self._configure(new, changed)
        return self._created(new)

    def _delete(self, created: Created, request: Request) -> None:
        self.client(request).delete_bucket(Bucket=created.physical_id)


class BucketPolicy(Handler):
    type_name, service, client_name = "AWS::S3::BucketPolicy", "S3", "s3"
    properties = frozenset({"Bucket", "PolicyDocument"})
    replacing = frozenset({"Bucket"})

    def _create(self, request: Request) -> Created:
        bucket = str(request.properties["Bucket"])
        document = request.properties["PolicyDocument"]
        text = document if isinstance(document, str) else json.dumps(document)
        self.client(request).put_bucket_policy(Bucket=bucket, Policy=text)
        return Created(bucket, state={"bucket": bucket})

    def _update(self, created: Created, old: Request, new: Request, changed: set[str]) -> Created:
        return self._create(new)

    def _delete(self, created: Created, request: Request) -> None:
        self.client(request).delete_bucket_policy(Bucket=created.state["bucket"])


# --------------------------------------------------------------------------- IAM


def _document(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class Role(Handler):
    type_name, service, client_name, name_property = "AWS::IAM::Role", "Iam", "iam", "RoleName"
    properties = frozenset({"RoleName", "AssumeRolePolicyDocument", "Description", "Policies", "ManagedPolicyArns", "Tags",
                            "Path", "MaxSessionDuration", "PermissionsBoundary"})
    attributes = frozenset({"Arn", "RoleId"})
    replacing = frozenset({"RoleName", "Path"})

    def _create(self, request: Request) -> Created:
        iam, properties = self.client(request), request.properties
        name = request.physical_name[:64]
        arguments: dict[str, Any] = {"RoleName": name, "AssumeRolePolicyDocument": _document(properties["AssumeRolePolicyDocument"]),
                                     "Tags": [{"Key": k, "Value": v} for k, v in request.tags().items()]}
        for key in ("Description", "Path", "MaxSessionDuration", "PermissionsBoundary"):
            if key in properties:
                arguments[key] = properties[key]
        role = iam.create_role(**arguments)["Role"]
        try:
            self._policies(request, name, {}, [])
        except ClientError:
            self._delete(Created(name), request)
            raise
        return Created(name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})

    def _policies(self, request: Request, name: str, had: Mapping[str, Any], attached: Iterable[str]) -> None:
        """The inline policies and managed attachments the properties name, and no others."""
        iam = self.client(request)
        wanted = {p["PolicyName"]: _document(p["PolicyDocument"]) for p in request.properties.get("Policies") or []}
        for policy_name in set(had) - set(wanted):
            iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
        for policy_name, document in wanted.items():
            if had.get(policy_name) != document:
                iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=document)
        arns = list(request.properties.get("ManagedPolicyArns") or [])
        for arn in set(attached) - set(arns):
            iam.detach_role_policy(RoleName=name, PolicyArn=arn)
        for arn in arns:
            if arn not in attached:
                iam.attach_role_policy(RoleName=name, PolicyArn=arn)

    def _update(self, created: Created, old: Request, new: Request, changed: set[str]) -> Created:
        iam, name = self.client(new), created.physical_id
        if "AssumeRolePolicyDocument" in changed:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=_document(new.properties["AssumeRolePolicyDocument"]))
        if changed & {"Description", "MaxSessionDuration"}:
            iam.update_role(RoleName=name, **{k: new.properties[k] for k in ("Description", "MaxSessionDuration") if k in new.properties})
        if changed & {"Policies", "ManagedPolicyArns"}:
            had = {p["PolicyName"]: _document(p["PolicyDocument"]) for p in old.properties.get("Policies") or []}
            self._policies(new, name, had, list(old.properties.get("ManagedPolicyArns") or []))
        if "Tags" in changed:
            stale = set(old.tags()) - set(new.tags())
            if stale:
                iam.untag_role(RoleName=name, TagKeys=sorted(stale))
            iam.tag_role(RoleName=name, Tags=[{"Key": k, "Value": v} for k, v in new.tags().items()])
        return created

    def _delete(self, created: Created, request: Request) -> None:
        """Detach and delete its policies first: IAM refuses to delete a role that has any (DeleteConflict)."""
        iam, name = self.client(request), created.physical_id
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
        for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
        iam.delete_role(RoleName=name)


# --------------------------------------------------------------------------- Lambda


def _inline_zip(source: str) -> bytes:
    """CloudFormation's inline ``ZipFile``: the source as ``index.py`` (``index.handler`` in the template)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.py", source)
    return buffer.getvalue()


def _lambda_code(code: Mapping[str, Any]) -> dict[str, Any]:
    if "ZipFile" in code:
        return {"ZipFile": _inline_zip(str(code["ZipFile"]))}
    if "ImageUri" in code:
        raise ResourceFailed("The walkthrough emulator runs zip functions only (Code.ImageUri is a container image); AWS would.")
    return {k: code[k] for k in ("S3Bucket", "S3Key", "S3ObjectVersion") if k in code}


class Function(Handler):
    type_name, service, client_name, name_property = "AWS::Lambda::Function", "Lambda", "lambda", "FunctionName"
    _CONFIGURATION = ("Role", "Handler", "Runtime", "MemorySize", "Timeout", "Description", "Environment", "Layers",
                      "LoggingConfig", "EphemeralStorage", "TracingConfig", "DeadLetterConfig", "KmsKeyArn")
    properties = frozenset({"FunctionName", "Code", "Architectures", "Tags", "ReservedConcurrentExecutions", *_CONFIGURATION})
    attributes = frozenset({"Arn"})
    replacing = frozenset({"FunctionName"})

    def _configuration(self, request: Request) -> dict[str, Any]:
        return {k: request.properties[k] for k in self._CONFIGURATION if k in request.properties}

    def _create(self, request: Request) -> Created:
        lam, name = self.client(request), request.physical_name
        extra: dict[str, Any] = {}
        if request.properties.get("Architectures"):
            extra["Architectures"] = list(request.properties["Architectures"])
        answer = lam.create_function(FunctionName=name, Code=_lambda_code(request.properties["Code"]), Tags=request.tags(),
                                     **self._configuration(request), **extra)
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        if request.properties.get("ReservedConcurrentExecutions") is not None:
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=int(request.properties["ReservedConcurrentExecutions"]))
        return Created(name, {"Arn": answer["FunctionArn"]})

    def _update(self, created: Created, old: Request, new: Request, changed: set[str]) -> Created:
        lam, name = self.client(new), created.physical_id
        if "Code" in changed or "Architectures" in changed:
            lam.update_function_code(FunctionName=name, **_lambda_code(new.properties["Code"]),
                                     **({"Architectures": list(new.properties["Architectures"])} if new.properties.get("Architectures") else {}))
            lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        if changed & set(self._CONFIGURATION):
            lam.update_function_configuration(FunctionName=name, **self._configuration(new))
            lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        if "Tags" in changed:
            arn = created.attributes["Arn"]
            stale = set(old.tags()) - set(new.tags())
            if stale:
                lam.untag_resource(Resource=arn, TagKeys=sorted(stale))
            lam.tag_resource(Resource=arn, Tags=new.tags())
        if "ReservedConcurrentExecutions" in changed:
            if new.properties.get("ReservedConcurrentExecutions") is None:
                lam.delete_function_concurrency(FunctionName=name)
            else:
                lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=int(new.properties["ReservedConcurrentExecutions"]))
        return created

    def _delete(self, created: Created, request: Request) -> None:
        self.client(request).delete_function(FunctionName=created.physical_id)


class LayerVersion(Handler):
    type_name, service, client_name, name_property = "AWS::Lambda::LayerVersion", "Lambda", "lambda", "LayerName"
    properties = frozenset({"LayerName", "Content", "CompatibleRuntimes", "CompatibleArchitectures", "Description", "LicenseInfo"})
    attributes = frozenset({"LayerVersionArn"})
    replacing = properties  # every change publishes a new version (and the stack deletes the old one)

    def update(self, created: Created, old: Request, new: Request) -> Created:
        # A layer version is immutable: any change is a new version of the same layer name, never a refusal.
        if old.properties == new.properties:
            return created
        try:
            replacement = self._create(new)
            self._delete(created, old)
            return replacement
        except ClientError as exc:
            raise ResourceFailed(handler_message(exc, self.service), new.logical_id, self.type_name) from None

    def _create(self, request: Request) -> Created:
        properties = request.properties
        content = {k: properties["Content"][k] for k in ("S3Bucket", "S3Key", "S3ObjectVersion") if k in properties["Content"]}
        extra = {k: properties[k] for k in ("CompatibleRuntimes", "CompatibleArchitectures", "Description", "LicenseInfo") if k in properties}
        answer = self.client(request).publish_layer_version(LayerName=request.physical_name, Content=content, **extra)
        return Created(answer["LayerVersionArn"], {"LayerVersionArn": answer["LayerVersionArn"]},
                       {"name": request.physical_name, "version": answer["Version"]})

    def _delete(self, created: Created, request: Request) -> None:
        self.client(request).delete_layer_version(LayerName=created.state["name"], VersionNumber=created.state["version"])


class Permission(Handler):
    type_name, service, client_name = "AWS::Lambda::Permission", "Lambda", "lambda"
    properties = frozenset({"FunctionName", "Action", "Principal", "SourceArn", "SourceAccount", "EventSourceToken",
                            "PrincipalOrgID", "FunctionUrlAuthType"})
    replacing = properties

    def _create(self, request: Request) -> Created:
        statement_id = request.physical_name[:100]
        function = str(request.properties["FunctionName"])
        arguments = {k: request.properties[k] for k in self.properties if k in request.properties}
        self.client(request).add_permission(StatementId=statement_id, **{**arguments, "FunctionName": function})
        return Created(statement_id, state={"function": function})

    def _delete(self, created: Created, request: Request) -> None:
        self.client(request).remove_permission(FunctionName=created.state["function"], StatementId=created.physical_id)


# --------------------------------------------------------------------------- CloudFront


def _quantity(items: list[Any]) -> dict[str, Any]:
    return {"Quantity": len(items), "Items": items} if items else {"Quantity": 0}


def distribution_api(config: Mapping[str, Any], caller_reference: str) -> dict[str, Any]:
    """A ``DistributionConfig`` property in CreateDistribution's shape.

    CloudFormation writes lists; the API wraps each as ``{"Quantity", "Items"}``,
    nests ``CachedMethods`` inside ``AllowedMethods``, calls an origin's
    ``OriginCustomHeaders`` ``CustomHeaders`` and flattens ``GeoRestriction``.
    """

    def behaviour(value: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: convert(v, k) for k, v in value.items() if k not in ("AllowedMethods", "CachedMethods")}
        if "AllowedMethods" in value:
            allowed = _quantity(list(value["AllowedMethods"]))
            allowed["CachedMethods"] = _quantity(list(value.get("CachedMethods") or ["GET", "HEAD"]))
            out["AllowedMethods"] = allowed
        return out

    def convert(value: Any, key: str = "") -> Any:
        if key in ("DefaultCacheBehavior",):
            return behaviour(value)
        if key == "CacheBehaviors":
            return _quantity([behaviour(v) for v in value])
        if key == "GeoRestriction":
            return {"RestrictionType": value.get("RestrictionType", "none"), **_quantity(list(value.get("Locations") or []))}
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for name, item in value.items():
                out["CustomHeaders" if name == "OriginCustomHeaders" else name] = convert(item, name)
            return out
        if isinstance(value, list):
            return _quantity([convert(v) for v in value])
        return value

    api = convert(dict(config))
    api.setdefault("Comment", "")
    api["CallerReference"] = caller_reference
    return api


class OriginAccessControl(Handler):
    type_name, service, client_name = "AWS::CloudFront::OriginAccessControl", "CloudFront", "cloudfront"
    properties = frozenset({"OriginAccessControlConfig"})
    attributes = frozenset({"Id"})

    def _create(self, request: Request) -> Created:
        answer = self.client(request).create_origin_access_control(OriginAccessControlConfig=dict(request.properties["OriginAccessControlConfig"]))
        control = answer["OriginAccessControl"]
        return Created(control["Id"], {"Id": control["Id"]})

    def _update(self, created: Created, old: Request, new: Request, changed: set[str]) -> Created:
        cloudfront = self.client(new)
        etag = cloudfront.get_origin_access_control(Id=created.physical_id)["ETag"]
        cloudfront.update_origin_access_control(Id=created.physical_id, IfMatch=etag,
                                                OriginAccessControlConfig=dict(new.properties["OriginAccessControlConfig"]))
        return created

    def _delete(self, created: Created, request: Request) -> None:
        cloudfront = self.client(request)
        etag = cloudfront.get_origin_access_control(Id=created.physical_id)["ETag"]
        cloudfront.delete_origin_access_control(Id=created.physical_id, IfMatch=etag)


class Distribution(Handler):
    type_name, service, client_name = "AWS::CloudFront::Distribution", "CloudFront", "cloudfront"
    properties = frozenset({"DistributionConfig", "Tags"})
    attributes = frozenset({"DomainName", "Id"})
    _sleep = staticmethod(time.sleep)

    def _wait_deployed(self, cloudfront: Any, distribution_id: str) -> None:
        """As CloudFormation does: the resource is complete once CloudFront has deployed it."""
        deadline = time.monotonic() + DEPLOY_WAIT_S
        while cloudfront.get_distribution(Id=distribution_id)["Distribution"]["Status"] != "Deployed":
            if time.monotonic() > deadline:
                raise ResourceFailed(_plain_message(f"Distribution {distribution_id} did not deploy in time", "NotStabilized"))
            self._sleep(0.05)

    def _create(self, request: Request) -> Created:
        cloudfront = self.client(request)
        config = distribution_api(request.properties["DistributionConfig"], f"{request.stack_id}-{request.logical_id}-{uuid.uuid4().hex[:8]}")
        tags = [{"Key": k, "Value": v} for k, v in request.tags().items()]
        created = cloudfront.create_distribution_with_tags(
            DistributionConfigWithTags={"DistributionConfig": config, "Tags": {"Items": tags}})["Distribution"]
        self._wait_deployed(cloudfront, created["Id"])
        return Created(created["Id"], {"Id": created["Id"], "DomainName": created["DomainName"]}, {"arn": created["ARN"]})

    def _update(self, created: Created, old: Request, new: Request, changed: set[str]) -> Created:
        cloudfront = self.client(new)
        current = cloudfront.get_distribution_config(Id=created.physical_id)
        if "DistributionConfig" in changed:
            config = distribution_api(new.properties["DistributionConfig"], current["DistributionConfig"]["CallerReference"])
            cloudfront.update_distribution(Id=created.physical_id, IfMatch=current["ETag"], DistributionConfig=config)
            self._wait_deployed(cloudfront, created.physical_id)
        if "Tags" in changed:
            stale = set(old.tags()) - set(new.tags())
            if stale:
                cloudfront.untag_resource(Resource=created.state["arn"], TagKeys={"Items": sorted(stale)})
            cloudfront.tag_resource(Resource=created.state["arn"], Tags={"Items": [{"Key": k, "Value": v} for k, v in new.tags().items()]})
        return created

    def _delete(self, created: Created, request: Request) -> None:
        """Disable with the current ETag, wait until deployed, delete with the new one: what CloudFront requires."""
        cloudfront = self.client(request)
        current = cloudfront.get_distribution_config(Id=created.physical_id)
        if current["DistributionConfig"]["Enabled"]:
            config = dict(current["DistributionConfig"], Enabled=False)
            cloudfront.update_distribution(Id=created.physical_id, IfMatch=current["ETag"], DistributionConfig=config)
        self._wait_deployed(cloudfront, created.physical_id)
        etag = cloudfront.get_distribution_config(Id=created.physical_id)["ETag"]
        cloudfront.delete_distribution(Id=created.physical_id, IfMatch=etag)


# --------------------------------------------------------------------------- API Gateway


class RestApi(Handler):
    type_name, service, client_name = "AWS::ApiGateway::RestApi", "ApiGateway", "apigateway"
    properties = frozenset({"Name", "Description", "EndpointConfiguration", "Tags", "BinaryMediaTypes"})
    attributes = frozenset({"RestApiId", "RootResourceId"})

    def _create(self, request: Request) -> Created:
        properties, apigateway = request.properties, self.client(request)
        arguments: dict[str, Any] = {"name": properties.get("Name") or request.physical_name, "tags": request.tags()}
        if "Description" in properties:
            arguments["description"] = properties["Description"]
        if properties.get("EndpointConfiguration"):
            arguments["endpointConfiguration"] = {"types": list(properties["EndpointConfiguration"].get("Types") or [])}
        if properties.get("BinaryMediaTypes"):
            arguments["binaryMediaTypes"] = list(properties["BinaryMediaTypes"])
        api = apigateway.create_rest_api(**arguments)
        root = next(r["id"] for r in apigateway.get_resources(restApiId=api["id"])["items"] if r["path"] == "/")
        return Created(api["id"], {"RestApiId": api["id"], "RootResourceId": root})

    def _update(self, created: Created, old: Request, new: Request, changed: set[str]) -> Created:
        operations = [{"op": "replace", "path": f"/{name.lower()}", "value": str(new.properties.get(name) or "")}
                      for name in ("Name", "Description") if name in changed]
        if operations:
            self.client(new).update_rest_api(restApiId=created.physical_id, patchOperations=operations)
        return created

    def _delete(self, created: Created, request: Request) -> None:
        self.client(request).delete_rest_api(restApiId=created.physical_id)


HANDLERS: tuple[type[Handler], ...] = (Bucket, BucketPolicy, Role, Function, LayerVersion, Permission, OriginAccessControl,
                                       Distribution, RestApi)


def handlers(clients: InternalClients) -> dict[str, Handler]:
    """Every handler, by resource type, calling the emulator's API with ``clients``."""
    return {kind.type_name: kind(clients) for kind in HANDLERS}


# --------------------------------------------------------------------------- template validation


def _references(value: Any) -> Iterable[str]:
    """The logical ids a property refers to: ``Ref``, ``Fn::GetAtt``, and ``${…}`` in ``Fn::Sub``."""
    if isinstance(value, Mapping):
        if "Ref" in value and isinstance(value["Ref"], str):
            yield value["Ref"]
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            yield (target.split(".", 1)[0] if isinstance(target, str) else str(target[0]))
        if "Fn::Sub" in value:
            body, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else (value["Fn::Sub"][0], value["Fn::Sub"][1])
            for name in re.findall(r"\$\{([^!}][^}]*)\}", str(body)):
                if name.split(".", 1)[0] not in variables:
                    yield name.split(".", 1)[0]
            yield from _references(variables)
        for key, item in value.items():
            if key not in ("Ref", "Fn::GetAtt", "Fn::Sub"):
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _depends_on(resource: Mapping[str, Any]) -> list[str]:
    depends = resource.get("DependsOn") or []
    return [depends] if isinstance(depends, str) else [str(d) for d in depends]


def dependencies(template: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each resource's logical id -> the resources it needs first (``DependsOn`` and references)."""
    resources = template.get("Resources") or {}
    graph: dict[str, list[str]] = {}
    for logical_id, resource in resources.items():
        needs = [*_depends_on(resource), *_references(resource.get("Properties") or {})]
        graph[logical_id] = list(dict.fromkeys(n for n in needs if n in resources))
    return graph


def circles(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """The groups of resources that need each other (strongly connected components bigger than one, or self-loops)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, []):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, []):
                order = list(graph)
                found.append(sorted(group, key=order.index))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def template_problems(template: Mapping[str, Any], creatable: Callable[[str], bool]) -> list[str]:
    """What CloudFormation refuses before creating anything, in its words (empty: the template may go ahead).

    ``creatable(type)`` says whether the emulator can create a resource type.
    """
    resources = template.get("Resources") or {}
    known = set(resources) | set(template.get("Parameters") or {}) | PSEUDO_PARAMETERS
    unresolved: list[str] = []
    for logical_id, resource in resources.items():
        for name in [*_references(resource.get("Properties") or {}), *_depends_on(resource)]:
            if name not in known and name not in unresolved:
                unresolved.append(name)
    problems = []
    if unresolved:
        problems.append(f"Template format error: Unresolved resource dependencies [{', '.join(unresolved)}] in the Resources block of the template")
    missing = sorted({r.get("Type", "") for r in resources.values() if not creatable(str(r.get("Type", "")))})
    if missing:
        problems.append(f"The walkthrough emulator cannot create {', '.join(missing)}: moto's CloudFormation has no model for "
                        f"{'it' if len(missing) == 1 else 'them'} (AWS would create {'it' if len(missing) == 1 else 'them'})")
    return problems


#: IAM resource types, and the property that names each (naming one needs CAPABILITY_NAMED_IAM).
IAM_TYPES = {"AWS::IAM::Role": "RoleName", "AWS::IAM::User": "UserName", "AWS::IAM::Group": "GroupName",
             "AWS::IAM::ManagedPolicy": "ManagedPolicyName", "AWS::IAM::InstanceProfile": "InstanceProfileName",
             "AWS::IAM::Policy": "", "AWS::IAM::AccessKey": "", "AWS::IAM::UserToGroupAddition": ""}


def missing_capability(template: Mapping[str, Any], capabilities: Iterable[str]) -> str | None:
    """CloudFormation's refusal of a template with IAM resources that the caller did not acknowledge, or None.

    IAM resources need ``CAPABILITY_IAM``; custom names for them need
    ``CAPABILITY_NAMED_IAM`` (which covers both): AWS's answer is
    ``InsufficientCapabilitiesException: Requires capabilities : [CAPABILITY_NAMED_IAM]``.
    """
    given = set(capabilities)
    needed = None
    for resource in (template.get("Resources") or {}).values():
        kind = str(resource.get("Type", ""))
        if kind in IAM_TYPES:
            name = IAM_TYPES[kind]
            if name and (resource.get("Properties") or {}).get(name):
                needed = "CAPABILITY_NAMED_IAM"
                break
            needed = needed or "CAPABILITY_IAM"
    if needed is None or needed in given or "CAPABILITY_NAMED_IAM" in given:
        return None
    return f"Requires capabilities : [{needed}]"


def circular_dependency(template: Mapping[str, Any]) -> str | None:
    """CloudFormation's reason for refusing a template whose resources need each other, or None."""
    groups = circles(dependencies(template))
    if not groups:
        return None
    return f"Circular dependency between resources: [{', '.join(member for group in groups for member in group)}]"


def with_properties(request: Request, properties: Mapping[str, Any], physical_name: str | None = None) -> Request:
    return replace(request, properties=properties, physical_name=physical_name or request.physical_name)
