"""What of a pipeline still exists, found by its names: the check a teardown ends with.

The notebooks' pipeline and a stack's (``--prefix``) have the same parts under
other names, so ``teardown.remaining`` and ``stack.remaining`` both ask here and
add what only they know of (CloudFormation stacks, tagged leftovers, artifacts).
"""

from __future__ import annotations

from walkthrough import aws, buckets, cdn
from walkthrough.config import Settings


def named_parts_left(settings: Settings, layer_name: str, api_name: str) -> list[str]:
    """Each part of the pipeline named by ``settings`` (and the layer and API names) that still exists, in words."""
    s3, lam, dynamodb, iam, apigateway = (aws.client(settings, n) for n in ("s3", "lambda", "dynamodb", "iam", "apigateway"))
    names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    left = [f"S3 bucket {b}" for b in buckets.bucket_names(settings) if b in names]
    if settings.table_name in dynamodb.list_tables()["TableNames"]:
        left.append(f"DynamoDB table {settings.table_name}")
    if any(f["FunctionName"] == settings.function_name for f in lam.list_functions()["Functions"]):
        left.append(f"Lambda {settings.function_name}")
    if lam.list_layer_versions(LayerName=layer_name).get("LayerVersions"):
        left.append(f"Lambda layer {layer_name}")
    try:
        iam.get_role(RoleName=settings.role_name)
        left.append(f"IAM role {settings.role_name}")
    except iam.exceptions.NoSuchEntityException:
        pass
    if cdn.find_distribution(settings):
        left.append(f"CloudFront distribution for {settings.processed_bucket}")
    if any(a["name"] == api_name for a in apigateway.get_rest_apis().get("items", [])):
        left.append(f"API Gateway {api_name}")
    return left
