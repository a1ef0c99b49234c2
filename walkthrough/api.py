"""Optional step 8: API Gateway as a manual trigger — ``POST /process`` with ``{"key": "photo.jpg"}``.

A REST API whose ``POST /process`` method hands the request to the function
unchanged (a Lambda *proxy* integration); the function answers with the
processed key and dimensions, never the image bytes (Lambda responses are
limited to 6 MB). API Gateway needs its own permission to invoke the function,
just as S3 did in step 5.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from walkthrough import aws
from walkthrough.config import Settings
from walkthrough.emulator.urls import api_url

API_NAME = "ImageProcessingApi"
STAGE = "prod"
RESOURCE = "process"
STATEMENT_ID = "AllowApiGatewayInvokeProcess"
DESCRIPTION = 'Manual trigger: POST /process {"key": ...}'
DEPLOYMENT_DESCRIPTION = "walkthrough"


def find_api(settings: Settings) -> dict[str, Any] | None:
    apigateway = aws.client(settings, "apigateway")
    for page in apigateway.get_paginator("get_rest_apis").paginate():
        for api in page.get("items", []):
            if api["name"] == API_NAME:
                return api
    return None


def invocation_uri(settings: Settings, function_arn: str) -> str:
    """The Lambda proxy integration's URI: API Gateway's path to the function's Invoke API."""
    return f"arn:aws:apigateway:{settings.region}:lambda:path/2015-03-31/functions/{function_arn}/invocations"


def rest_api_definition(settings: Settings, name: str = API_NAME) -> dict[str, Any]:
    """CreateRestApi's arguments (a regional endpoint: no CloudFront in front of a manual trigger)."""
    return {"name": name, "description": DESCRIPTION, "endpointConfiguration": {"types": ["REGIONAL"]}, "tags": settings.tags}


def invoke_permission(settings: Settings, api_id: str) -> dict[str, str]:
    """Who may invoke the function through the API: API Gateway, for this API's ``POST /process`` only."""
    return {
        "Action": "lambda:InvokeFunction", "Principal": "apigateway.amazonaws.com",
        "SourceArn": f"arn:aws:execute-api:{settings.region}:{aws.account(settings)}:{api_id}/*/POST/{RESOURCE}",
    }


def ensure_api(settings: Settings) -> dict[str, Any]:
    """The REST API, its ``POST /process`` proxy method, a ``prod`` deployment and the invoke permission."""
    apigateway, lam = aws.client(settings, "apigateway"), aws.client(settings, "lambda")
    function_arn = lam.get_function(FunctionName=settings.function_name)["Configuration"]["FunctionArn"]
    changes: list[str] = []
    api = find_api(settings)
    if api is None:
        api = apigateway.create_rest_api(**rest_api_definition(settings))
        changes.append("created the API")
    resources = apigateway.get_resources(restApiId=api["id"])["items"]
    root = next(r for r in resources if r["path"] == "/")
    resource = next((r for r in resources if r["path"] == f"/{RESOURCE}"), None)
    if resource is None:
        resource = apigateway.create_resource(restApiId=api["id"], parentId=root["id"], pathPart=RESOURCE)
        changes.append(f"added /{RESOURCE}")
    if "POST" not in (resource.get("resourceMethods") or {}):
        apigateway.put_method(restApiId=api["id"], resourceId=resource["id"], httpMethod="POST", authorizationType="NONE")
        changes.append("added POST")
    uri = invocation_uri(settings, function_arn)
    try:
        integration = apigateway.get_integration(restApiId=api["id"], resourceId=resource["id"], httpMethod="POST")
    except apigateway.exceptions.NotFoundException:
        integration = {}
    if integration.get("type") != "AWS_PROXY" or integration.get("uri") != uri:
        apigateway.put_integration(
            restApiId=api["id"], resourceId=resource["id"], httpMethod="POST",
            type="AWS_PROXY", integrationHttpMethod="POST", uri=uri,
        )
        changes.append("Lambda proxy integration")
    stages = {s["stageName"] for s in apigateway.get_stages(restApiId=api["id"]).get("item", [])}
    if changes or STAGE not in stages:
        apigateway.create_deployment(restApiId=api["id"], stageName=STAGE, description=DEPLOYMENT_DESCRIPTION)
        changes.append(f"deployed to {STAGE}")
    if _grant_invoke(settings, api["id"]):
        changes.append("permission for API Gateway")
    return {
        "status": ("created" if "created the API" in changes else "updated") if changes else "exists",
        "api": API_NAME, "id": api["id"], "method": f"POST /{RESOURCE}", "stage": STAGE,
        "url": invoke_url(settings, api["id"]), "changes": changes,
    }


def _grant_invoke(settings: Settings, api_id: str) -> bool:
    """Let this API's ``POST /process`` invoke the function; False when already allowed."""
    lam = aws.client(settings, "lambda")
    try:
        statements = json.loads(lam.get_policy(FunctionName=settings.function_name)["Policy"])["Statement"]
    except lam.exceptions.ResourceNotFoundException:
        statements = []
    permission = invoke_permission(settings, api_id)
    source_arn = permission["SourceArn"]
    for statement in statements:
        if statement.get("Sid") == STATEMENT_ID:
            if json.dumps(statement).find(source_arn) >= 0:
                return False
            lam.remove_permission(FunctionName=settings.function_name, StatementId=STATEMENT_ID)
    lam.add_permission(FunctionName=settings.function_name, StatementId=STATEMENT_ID, **permission)
    return True


def invoke_url(settings: Settings, api_id: str) -> str:
    """Where ``POST /process`` is: the API's execute-api address, or its loopback address on the emulator."""
    emulator = aws.emulator_endpoint(settings)
    if emulator:
        return api_url(emulator, api_id, STAGE, RESOURCE)
    return f"https://{api_id}.execute-api.{settings.region}.amazonaws.com/{STAGE}/{RESOURCE}"


def call(url: str, body: Any, timeout_s: float = 60.0) -> dict[str, Any]:
    """POST ``body`` (a dict is sent as JSON, a string as it is) and return the status and the JSON answer."""
    data = (json.dumps(body) if not isinstance(body, (str, bytes)) else body)
    data = data.encode() if isinstance(data, str) else data
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        answer = json.loads(text)
    except ValueError:
        answer = text
    return {"status": status, "answer": answer}
