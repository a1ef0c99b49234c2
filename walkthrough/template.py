"""The whole pipeline as one CloudFormation template, made from the definitions the notebooks' steps use.

Nothing here is written twice: the bucket settings come from ``buckets``, the
table from ``table.table_definition``, the role's trust and least-privilege
policy from ``iam``, the function's configuration from
``lambda_fn.function_configuration``, the S3 permission and notification from
``trigger``, the origin access control, distribution and bucket policy from
``cdn``, the API from ``api``, and every name and tag from ``Settings``. So the
stack and the notebooks cannot drift apart (``tests/test_stack.py`` compares
what each creates).

**The function's code.** CloudFormation's inline ``ZipFile`` holds at most 4 KB
of source and makes ``index.py``; the function (about 10 KB) and the Pillow
layer (7-9 MB) do not fit. So, as ``aws cloudformation package`` and SAM do,
the zips are artifacts uploaded to an S3 bucket before the deploy, and the
template names them by bucket and key. The keys carry the zip's SHA-256
(``function-<sha>.zip``; the zips are reproducible, see ``packaging.py``), so
the template changes exactly when the code does, and CloudFormation updates
the function then and only then. ``walkthrough deploy`` uploads them to the
walkthrough's artifacts bucket; ``template --artifacts DIR`` writes them to a
folder instead and names them by path, for ``aws cloudformation package``.

**The Pillow layer** follows notebook 04's ``pillow_layer``: ``"local"`` (the
emulator's default) and ``"build"`` put an ``AWS::Lambda::LayerVersion`` in the
stack, so deleting the stack deletes it; ``"klayers"`` (AWS's default) and
``"document"`` name Klayers' public layer by ARN.

**Names.** A stack with the default names is an alternative to the notebooks,
not an addition: both would make ``raw-image-bucket``. ``prefix`` puts
``<prefix>-`` in front of every name (buckets, table, role, function, layer,
API, stack), so a stack can stand beside the notebooks' pipeline.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from walkthrough import api, buckets, cdn, iam, lambda_fn, layer, table, trigger
from walkthrough.config import Settings
from walkthrough.errors import WalkthroughError

#: The stack's name without a prefix.
STACK_NAME = "walkthrough"
TEMPLATE_VERSION = "2010-09-09"
#: A prefix is the start of a bucket name, so S3's rules apply (lower case, digits, hyphens), kept short
#: enough that ``<prefix>-processed-image-bucket-<account>-<region>`` fits S3's 63 characters.
PREFIX = re.compile(r"^[a-z][a-z0-9-]{0,10}[a-z0-9]$|^[a-z]$")

#: What each logical id is, and the notebook that makes the same resource by hand.
SECTIONS: dict[str, tuple[str, str]] = {
    "RawImageBucket": ("01_s3_buckets", "the uploads bucket: private, and its notification (notebook 05)"),
    "ProcessedImageBucket": ("01_s3_buckets", "the results bucket: private, read only through CloudFront"),
    "ImageMetadataTable": ("02_dynamodb_table", "one item per image, keyed by file name, on-demand"),
    "LambdaImageProcessingRole": ("03_iam_role", "the function's identity: trusted by Lambda, least privilege"),
    "PillowLayer": ("04_lambda_function", "Pillow, which Lambda's Python runtime lacks"),
    "ImageProcessingFunctionLogGroup": ("04_lambda_function", "the function's log group, so deleting the stack deletes it"),
    "ImageProcessingFunction": ("04_lambda_function", "resize, watermark, record: lambda_function/ with its layer"),
    "AllowS3Invoke": ("05_s3_trigger", "S3 may invoke the function, for the raw bucket of this account"),
    "OriginAccessControl": ("06_cloudfront", "CloudFront signs its requests to the processed bucket"),
    "Distribution": ("06_cloudfront", "HTTPS in front of the processed bucket"),
    "ProcessedImageBucketPolicy": ("06_cloudfront", "the bucket lets this distribution read, nobody else"),
    "ImageProcessingApi": ("08_api_gateway", "the optional manual trigger"),
    "ProcessResource": ("08_api_gateway", "/process"),
    "ProcessPostMethod": ("08_api_gateway", "POST /process, handed to the function unchanged (Lambda proxy)"),
    "ApiDeployment": ("08_api_gateway", "the API deployed to its stage"),
    "AllowApiGatewayInvoke": ("08_api_gateway", "API Gateway may invoke the function, for POST /process"),
}


def ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def get_att(logical_id: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


# --------------------------------------------------------------------------- names


@dataclass(frozen=True)
class Names:
    """Every name a stack gives: the settings' resource names (prefixed), the stack's, the API's and the layer's."""

    settings: Settings
    prefix: str
    stack: str
    api: str
    layer: str


def _prefixed(prefix: str, name: str) -> str:
    return f"{prefix}-{name}" if prefix else name


def check_prefix(prefix: str) -> str:
    """``prefix`` when it can start every name (S3's rules are the strictest); a one-line error otherwise."""
    prefix = (prefix or "").strip()
    if prefix and not PREFIX.match(prefix):
        raise WalkthroughError(
            f"The prefix {prefix!r} cannot start a bucket name: use 1-12 lower-case letters, digits and hyphens, "
            "starting with a letter and not ending with a hyphen (for example 'iac')."
        )
    return prefix


def names(settings: Settings, prefix: str = "") -> Names:
    """The names of a stack: the notebooks' names (``prefix=""``), or all of them with ``<prefix>-`` in front."""
    prefix = check_prefix(prefix)
    if prefix:
        settings = settings.with_(
            raw_bucket=_prefixed(prefix, settings.raw_bucket), processed_bucket=_prefixed(prefix, settings.processed_bucket),
            table_name=_prefixed(prefix, settings.table_name), role_name=_prefixed(prefix, settings.role_name),
            function_name=_prefixed(prefix, settings.function_name), account_id=settings.account_id,
        )
    return Names(settings, prefix, _prefixed(prefix, STACK_NAME), _prefixed(prefix, api.API_NAME), _prefixed(prefix, layer.LAYER_NAME))


# --------------------------------------------------------------------------- artifacts


@dataclass(frozen=True)
class Artifact:
    """A zip the template's code points at, named by its content."""

    name: str  # "function" or "pillow-layer"
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def file_name(self) -> str:
        return f"{self.name}-{self.sha256[:16]}.zip"


@dataclass(frozen=True)
class PillowLayer:
    """The function's Pillow layer: a public ARN, or a zip the stack publishes as its own layer version."""

    choice: str
    arn: str | None = None
    artifact: Artifact | None = None
    description: str = ""


def function_artifact() -> Artifact:
    """``lambda_function/`` zipped exactly as notebook 04 deploys it."""
    return Artifact("function", lambda_fn.build_function_zip())


def pillow_layer(settings: Settings, choice: str | None = None) -> PillowLayer:
    """The layer for ``choice`` (notebook 04's ``pillow_layer``; the target's default when None), published by nothing yet."""
    choice = layer.resolve_choice(settings, choice)
    if choice in ("local", "build"):
        made = layer.layer_content(settings, choice)
        return PillowLayer(choice, artifact=Artifact("pillow-layer", made.content), description=made.description)
    public = layer.public_layer(settings, choice)
    return PillowLayer(choice, arn=public["arn"], description=public["status"])


#: Where a template finds an artifact: ``{"S3Bucket": …, "S3Key": …}``, or a local path for ``aws cloudformation package``.
Locate = Callable[[Artifact], Any]


def in_bucket(bucket: str, stack: str) -> Locate:
    """Artifacts in ``s3://<bucket>/<stack>/<name>-<sha>.zip`` (where ``walkthrough deploy`` uploads them)."""
    return lambda artifact: {"S3Bucket": bucket, "S3Key": f"{stack}/{artifact.file_name}"}


def in_folder(folder: Path, relative_to: Path) -> Locate:
    """Artifacts written to ``folder``, named by their path from the template's folder (``aws cloudformation package``)."""

    def locate(artifact: Artifact) -> str:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / artifact.file_name
        if not path.exists() or path.read_bytes() != artifact.data:
            path.write_bytes(artifact.data)
        try:
            return path.resolve().relative_to(relative_to.resolve()).as_posix()
        except ValueError:
            return str(path.resolve())

    return locate


# --------------------------------------------------------------------------- the template


def _tags(settings: Settings) -> list[dict[str, str]]:
    return settings.tag_list()


def _cloudformation_distribution(config: dict[str, Any]) -> dict[str, Any]:
    """CreateDistribution's ``DistributionConfig`` in CloudFormation's shape.

    The API wraps every list as ``{"Quantity": n, "Items": [...]}`` and nests
    ``CachedMethods`` inside ``AllowedMethods``; CloudFormation takes plain
    lists, ``CachedMethods`` beside ``AllowedMethods``, and makes the
    ``CallerReference`` itself.
    """

    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) <= {"Quantity", "Items"} and "Quantity" in value:
                return [convert(v) for v in value.get("Items") or []]
            out: dict[str, Any] = {}
            for key, item in value.items():
                if key == "AllowedMethods" and isinstance(item, dict):
                    out["AllowedMethods"] = list(item.get("Items") or [])
                    if item.get("CachedMethods"):
                        out["CachedMethods"] = list(item["CachedMethods"].get("Items") or [])
                elif key != "CallerReference":
                    out[key] = convert(item)
            return out
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    return convert(config)


def build(
    stack_names: Names,
    locate: Locate,
    pillow: PillowLayer,
    policy: str = "least-privilege",
    max_dimension: int = lambda_fn.TUTORIAL_MAX_DIMENSION,
    with_api: bool = True,
) -> dict[str, Any]:
    """The template, as a dict (``to_yaml`` writes it). ``locate`` says where the zips are."""
    if policy not in iam.POLICY_CHOICES:
        raise WalkthroughError(f"Unknown policy {policy!r}: use 'least-privilege' (the default) or 'managed' (the document's).")
    settings = stack_names.settings
    account = settings.account
    resources: dict[str, Any] = {}

    # Notebooks 01 and 05: the buckets; the raw one notifies the function, which S3 checks against the
    # permission when the bucket is created, hence DependsOn (and a SourceArn built from the name, not a Ref,
    # which would make a circle: https://repost.aws/knowledge-center/unable-validate-circular-dependency-cloudformation).
    function_arn = get_att("ImageProcessingFunction", "Arn")
    notifications = [
        {"Event": event, "Function": config["LambdaFunctionArn"]}
        for config in trigger.notification_configurations(function_arn) for event in config["Events"]
    ]
    resources["RawImageBucket"] = {
        "Type": "AWS::S3::Bucket",
        "DependsOn": ["AllowS3Invoke"],
        "Properties": {
            "BucketName": settings.raw_bucket,
            "PublicAccessBlockConfiguration": dict(buckets.BLOCK_ALL),
            "NotificationConfiguration": {"LambdaConfigurations": notifications},
            "Tags": _tags(settings),
        },
    }
    resources["ProcessedImageBucket"] = {
        "Type": "AWS::S3::Bucket",
        "Properties": {
            "BucketName": settings.processed_bucket,
            "PublicAccessBlockConfiguration": dict(buckets.BLOCK_ALL),
            "Tags": _tags(settings),
        },
    }
    # Notebook 02: CreateTable's arguments are the table's properties.
    resources["ImageMetadataTable"] = {"Type": "AWS::DynamoDB::Table", "Properties": table.table_definition(settings)}
    # Notebook 03.
    role: dict[str, Any] = {
        "RoleName": settings.role_name,
        "AssumeRolePolicyDocument": iam.TRUST_POLICY,
        "Description": iam.ROLE_DESCRIPTION,
    }
    if policy == "managed":
        role["ManagedPolicyArns"] = list(iam.DOCUMENT_MANAGED_POLICIES)
    else:
        role["Policies"] = [{"PolicyName": iam.INLINE_POLICY_NAME, "PolicyDocument": iam.least_privilege_policy(settings, account)}]
    role["Tags"] = _tags(settings)
    resources["LambdaImageProcessingRole"] = {"Type": "AWS::IAM::Role", "Properties": role}
    # Notebook 04: the layer, the log group, the function.
    if pillow.artifact is not None:
        resources["PillowLayer"] = {
            "Type": "AWS::Lambda::LayerVersion",
            "Properties": {
                "LayerName": stack_names.layer,
                "Description": pillow.description,
                "Content": locate(pillow.artifact),
                "CompatibleRuntimes": [settings.runtime],
                "CompatibleArchitectures": [lambda_fn.ARCHITECTURE],
            },
        }
        layer_arn: Any = ref("PillowLayer")
    else:
        layer_arn = pillow.arn
    resources["ImageProcessingFunctionLogGroup"] = {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"LogGroupName": f"/aws/lambda/{settings.function_name}", "Tags": _tags(settings)},
    }
    configuration = lambda_fn.function_configuration(
        settings, get_att("LambdaImageProcessingRole", "Arn"), layer_arn, MAX_DIMENSION=str(max_dimension))
    resources["ImageProcessingFunction"] = {
        "Type": "AWS::Lambda::Function",
        # The group first: a function invoked before it exists would create it outside the stack.
        "DependsOn": ["ImageProcessingFunctionLogGroup"],
        "Properties": {
            "FunctionName": settings.function_name,
            "Code": locate(function_artifact()),
            "Architectures": [lambda_fn.ARCHITECTURE],
            **configuration,
            "Tags": _tags(settings),
        },
    }
    # Notebook 05: the permission (the notification is the raw bucket's property, above).
    resources["AllowS3Invoke"] = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {"FunctionName": ref("ImageProcessingFunction"), **trigger.s3_permission(settings)},
    }
    # Notebook 06.
    resources["OriginAccessControl"] = {
        "Type": "AWS::CloudFront::OriginAccessControl",
        "Properties": {"OriginAccessControlConfig": cdn.origin_access_control_config(settings)},
    }
    distribution = cdn.distribution_config(settings, {"kind": "OAC", "id": get_att("OriginAccessControl", "Id")})
    resources["Distribution"] = {
        "Type": "AWS::CloudFront::Distribution",
        "Properties": {"DistributionConfig": _cloudformation_distribution(distribution), "Tags": _tags(settings)},
    }
    distribution_arn = sub(f"arn:aws:cloudfront::{account}:distribution/${{Distribution}}")
    resources["ProcessedImageBucketPolicy"] = {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {"Bucket": ref("ProcessedImageBucket"), "PolicyDocument": cdn.bucket_policy(settings, distribution_arn, {"kind": "OAC"})},
    }
    outputs: dict[str, Any] = {
        "RawBucketName": {"Description": "Upload images here", "Value": ref("RawImageBucket")},
        "ProcessedBucketName": {"Description": "The function writes here", "Value": ref("ProcessedImageBucket")},
        "MetadataTableName": {"Description": "One item per image", "Value": ref("ImageMetadataTable")},
        "FunctionArn": {"Description": "The image function", "Value": function_arn},
        "DistributionId": {"Description": "The CloudFront distribution", "Value": ref("Distribution")},
        "DistributionDomainName": {"Description": "Where viewers read the processed images (HTTPS)",
                                   "Value": get_att("Distribution", "DomainName")},
    }
    # Notebook 08 (optional).
    if with_api:
        definition = api.rest_api_definition(settings, stack_names.api)
        resources["ImageProcessingApi"] = {
            "Type": "AWS::ApiGateway::RestApi",
            "Properties": {
                "Name": definition["name"],
                "Description": definition["description"],
                "EndpointConfiguration": {"Types": definition["endpointConfiguration"]["types"]},
                "Tags": [{"Key": k, "Value": v} for k, v in definition["tags"].items()],
            },
        }
        resources["ProcessResource"] = {
            "Type": "AWS::ApiGateway::Resource",
            "Properties": {"RestApiId": ref("ImageProcessingApi"), "ParentId": get_att("ImageProcessingApi", "RootResourceId"),
                           "PathPart": api.RESOURCE},
        }
        resources["ProcessPostMethod"] = {
            "Type": "AWS::ApiGateway::Method",
            "Properties": {
                "RestApiId": ref("ImageProcessingApi"), "ResourceId": ref("ProcessResource"),
                "HttpMethod": "POST", "AuthorizationType": "NONE",
                "Integration": {"Type": "AWS_PROXY", "IntegrationHttpMethod": "POST",
                                "Uri": sub(api.invocation_uri(settings, "${ImageProcessingFunction.Arn}"))},
            },
        }
        resources["ApiDeployment"] = {
            "Type": "AWS::ApiGateway::Deployment",
            "DependsOn": ["ProcessPostMethod"],  # a deployment of an API without methods is refused
            "Properties": {"RestApiId": ref("ImageProcessingApi"), "StageName": api.STAGE, "Description": api.DEPLOYMENT_DESCRIPTION},
        }
        permission = api.invoke_permission(settings, "${ImageProcessingApi}")
        resources["AllowApiGatewayInvoke"] = {
            "Type": "AWS::Lambda::Permission",
            "Properties": {"FunctionName": ref("ImageProcessingFunction"), **permission, "SourceArn": sub(permission["SourceArn"])},
        }
        outputs["ApiId"] = {"Description": "The manual trigger's REST API", "Value": ref("ImageProcessingApi")}
        outputs["ApiUrl"] = {
            "Description": 'POST {"key": "photo.jpg"} here',
            "Value": sub(f"https://${{ImageProcessingApi}}.execute-api.{settings.region}.amazonaws.com/{api.STAGE}/{api.RESOURCE}"),
        }
    return {
        "AWSTemplateFormatVersion": TEMPLATE_VERSION,
        "Description": (f"The walkthrough's image pipeline ({stack_names.stack}): S3 upload -> Lambda (resize, watermark) -> "
                        "S3 + DynamoDB, served by CloudFront. Generated by `python -m walkthrough template`."),
        "Resources": resources,
        "Outputs": outputs,
    }


# --------------------------------------------------------------------------- YAML

_SHORT_FORMS = {"Ref": "!Ref", "Fn::GetAtt": "!GetAtt", "Fn::Sub": "!Sub"}


class _Dumper(yaml.SafeDumper):
    """YAML as people write CloudFormation: ``!Ref``/``!GetAtt``/``!Sub`` short forms, keys in order, no aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def choose_scalar_style(self) -> str:
        # PyYAML quotes every scalar with an explicit tag; CloudFormation's documentation writes `!Ref Name`.
        style = super().choose_scalar_style()
        if self.event.tag in _SHORT_FORMS.values() and style == "'" and self.analysis is not None:
            plain = self.analysis.allow_flow_plain if self.flow_level else self.analysis.allow_block_plain
            if plain and not self.analysis.multiline:
                return ""
        return style


def _represent_dict(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    if len(data) == 1:
        (key, value), = data.items()
        if key == "Fn::GetAtt" and isinstance(value, list):
            return dumper.represent_scalar("!GetAtt", ".".join(value))
        if key in _SHORT_FORMS and isinstance(value, str):
            return dumper.represent_scalar(_SHORT_FORMS[key], value)
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items())


_Dumper.add_representer(dict, _represent_dict)


class _Loader(yaml.SafeLoader):
    """Reads the short forms back as CloudFormation's JSON forms (for tests and ``load``)."""


for _tag, _key in (("!Ref", "Ref"), ("!Sub", "Fn::Sub")):
    _Loader.add_constructor(_tag, lambda loader, node, key=_key: {key: loader.construct_scalar(node)})
_Loader.add_constructor("!GetAtt", lambda loader, node: {"Fn::GetAtt": loader.construct_scalar(node).split(".", 1)})


def to_yaml(template: dict[str, Any]) -> str:
    """The template as YAML, each resource under a comment naming the notebook that makes it by hand."""
    text = yaml.dump(template, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True, default_flow_style=False)
    lines = []
    in_resources = False
    for line in text.splitlines():
        if not line.startswith(" "):
            in_resources = line == "Resources:"
        elif in_resources and re.match(r"^  [A-Za-z0-9]+:$", line):
            logical_id = line.strip()[:-1]
            if logical_id in SECTIONS:
                notebook, what = SECTIONS[logical_id]
                lines.append(f"  # {notebook}: {what}")
        lines.append(line)
    header = ("# The walkthrough's pipeline as one CloudFormation stack. Generated by `python -m walkthrough template`\n"
              "# from the same definitions the notebooks use: change the package, not this file.\n")
    return header + "\n".join(lines) + "\n"


def load(text: str) -> dict[str, Any]:
    """A YAML template (short forms included) as a dict."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def resource_types(template: dict[str, Any]) -> list[str]:
    return sorted({resource["Type"] for resource in template["Resources"].values()})


def sections(template: dict[str, Any]) -> list[dict[str, str]]:
    """One row per resource: its logical id, type, the notebook that makes it by hand, and what it is."""
    return [
        {"resource": logical_id, "type": resource["Type"], "notebook": SECTIONS.get(logical_id, ("", ""))[0],
         "what": SECTIONS.get(logical_id, ("", ""))[1]}
        for logical_id, resource in template["Resources"].items()
    ]


def section(template: dict[str, Any], *logical_ids: str) -> str:
    """Some resources of the template, as YAML (what notebook 10 shows step by step)."""
    missing = [i for i in logical_ids if i not in template["Resources"]]
    if missing:
        raise WalkthroughError(f"The template has no {', '.join(missing)}: its resources are {', '.join(template['Resources'])}.")
    part = {i: template["Resources"][i] for i in logical_ids}
    return yaml.dump(part, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True, default_flow_style=False)


def for_notebook(template: dict[str, Any], number: str) -> str:
    """The resources the notebook numbered ``number`` ("04") makes by hand, as the template declares them (YAML)."""
    chosen = [i for i in template["Resources"] if SECTIONS.get(i, ("",))[0].startswith(number.zfill(2) + "_")]
    if not chosen:
        raise WalkthroughError(f"No resource of this template is notebook {number}'s.")
    return section(template, *chosen)


def lint_report(text: str, region: str = "us-east-1") -> dict[str, Any]:
    """cfn-lint's verdict on a template, as a notebook shows it: the version, and what it found (nothing, we hope)."""
    import importlib.metadata

    findings = lint(text, region)
    return {"cfn-lint": importlib.metadata.version("cfn-lint"), "region": region,
            "resources": len(load(text)["Resources"]), "errors and warnings": "; ".join(findings) if findings else "none"}


def lint(text: str, region: str = "us-east-1") -> list[str]:
    """cfn-lint's findings for a YAML template in ``region`` (errors and warnings; empty when it is clean)."""
    from cfnlint.api import ManualArgs, lint as cfn_lint

    return [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in cfn_lint(text, config=ManualArgs(regions=[region]))]
