"""API Gateway on loopback: a deployed stage routes requests to its Lambda proxy integration, as AWS does."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest

from walkthrough.emulator import urls

pytestmark = pytest.mark.emulator

# Answers with the event it received; some paths answer badly on purpose.
HANDLER = '''
import json
def lambda_handler(event, context):
    path = event["path"]
    if path.endswith("/boom"):
        raise RuntimeError("boom")
    if path.endswith("/malformed"):
        return {"statusCode": 200, "body": {"not": "a string"}}
    if path.endswith("/extra"):
        return {"statusCode": 200, "body": "x", "unexpected": True}
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "X-Handled-By": context.function_name},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": json.dumps({"event": event}),
        "isBase64Encoded": False,
    }
'''


@dataclass
class Api:
    id: str
    function: str
    function_arn: str
    resources: dict[str, str]

    def url(self, emulator, path: str, stage: str = "prod") -> str:
        return urls.api_url(emulator.endpoint, self.id, stage, path)


def call(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def build_api(emulator, function: str, function_arn: str, stage: str | None = "prod") -> Api:
    apigw = emulator.client("apigateway")
    api_id = apigw.create_rest_api(name=emulator.unique("api"))["id"]
    root = next(r["id"] for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function_arn}/invocations"
    resources = {"/": root}

    def add(parent: str, part: str) -> str:
        resource_id = apigw.create_resource(restApiId=api_id, parentId=parent, pathPart=part)["id"]
        return resource_id

    def method(resource_id: str, verb: str) -> None:
        apigw.put_method(restApiId=api_id, resourceId=resource_id, httpMethod=verb, authorizationType="NONE")
        apigw.put_integration(restApiId=api_id, resourceId=resource_id, httpMethod=verb, type="AWS_PROXY",
                              integrationHttpMethod="POST", uri=uri)

    resources["/process"] = add(root, "process")
    method(resources["/process"], "POST")
    resources["/items"] = add(root, "items")
    resources["/items/{id}"] = add(resources["/items"], "{id}")
    method(resources["/items/{id}"], "GET")
    resources["/items/special"] = add(resources["/items"], "special")
    method(resources["/items/special"], "GET")
    resources["/files"] = add(root, "files")
    resources["/files/{proxy+}"] = add(resources["/files"], "{proxy+}")
    method(resources["/files/{proxy+}"], "ANY")
    if stage:
        apigw.create_deployment(restApiId=api_id, stageName=stage, variables={"flavour": "vanilla"})
    return Api(api_id, function, function_arn, resources)


def permit(emulator, api: Api, pattern: str = "/*/*/*", statement: str = "apigateway") -> None:
    emulator.client("lambda").add_permission(
        FunctionName=api.function, StatementId=statement, Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
        SourceArn=f"arn:aws:execute-api:us-east-1:123456789012:{api.id}{pattern}",
    )


@pytest.fixture(scope="module")
def function(emulator) -> tuple[str, str]:
    name = emulator.deploy(HANDLER)
    arn = emulator.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    return name, arn


@pytest.fixture(scope="module")
def api(emulator, function) -> Api:
    built = build_api(emulator, *function)
    permit(emulator, built)
    return built


def test_function_without_permission_gives_internal_server_error(emulator, function):
    unpermitted = build_api(emulator, *function)  # the module's permission names another API
    status, headers, body = call(unpermitted.url(emulator, "process"), method="POST", body=b"{}")
    assert status == 500 and json.loads(body) == {"message": "Internal server error"}
    assert headers["Content-Type"] == "application/json"


def test_permission_for_another_method_does_not_count(emulator, function):
    narrow = build_api(emulator, *function)
    permit(emulator, narrow, "/*/GET/process", statement=f"narrow-{narrow.id}")
    assert call(narrow.url(emulator, "process"), method="POST", body=b"{}")[0] == 500
    permit(emulator, narrow, "/*/POST/process", statement=f"exact-{narrow.id}")
    assert call(narrow.url(emulator, "process"), method="POST", body=b"{}")[0] == 201


def test_proxy_integration_returns_the_functions_answer(emulator, api):
    status, headers, body = call(api.url(emulator, "process"), method="POST", body=b'{"key": "photo.jpg"}',
                                 headers={"Content-Type": "application/json"})
    assert status == 201
    assert headers["X-Handled-By"] == api.function
    assert headers["Content-Type"] == "application/json"
    assert "x-amzn-RequestId" in headers
    event = json.loads(body)["event"]
    assert event["body"] == '{"key": "photo.jpg"}' and event["isBase64Encoded"] is False
    assert event["httpMethod"] == "POST" and event["resource"] == "/process" and event["path"] == "/process"


def test_event_has_the_version_1_shape_with_path_parameters_and_query(emulator, api):
    status, _, body = call(api.url(emulator, "items/42") + "?size=large&tag=a&tag=b", headers={"X-Custom": "yes"})
    assert status == 201
    event = json.loads(body)["event"]
    assert set(event) >= {"resource", "path", "httpMethod", "headers", "multiValueHeaders", "queryStringParameters",
                          "multiValueQueryStringParameters", "pathParameters", "stageVariables", "requestContext", "body", "isBase64Encoded"}
    assert event["resource"] == "/items/{id}" and event["path"] == "/items/42"
    assert event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"size": "large", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"size": ["large"], "tag": ["a", "b"]}
    assert event["headers"]["X-Custom"] == "yes" and event["multiValueHeaders"]["X-Custom"] == ["yes"]
    assert event["stageVariables"] == {"flavour": "vanilla"}
    assert event["body"] is None
    context = event["requestContext"]
    assert context["accountId"] == "123456789012" and context["apiId"] == api.id and context["stage"] == "prod"
    assert context["resourcePath"] == "/items/{id}" and context["httpMethod"] == "GET" and context["path"] == "/prod/items/42"
    assert context["requestId"] and context["identity"]["sourceIp"] == "127.0.0.1"


def test_literal_resource_beats_parameter_and_greedy_path_takes_the_rest(emulator, api):
    special = json.loads(call(api.url(emulator, "items/special"))[2])["event"]
    assert special["resource"] == "/items/special" and special["pathParameters"] is None
    status, _, body = call(api.url(emulator, "files/2026/a b.jpg"), method="DELETE")
    event = json.loads(body)["event"]
    assert status == 201 and event["resource"] == "/files/{proxy+}"
    assert event["pathParameters"] == {"proxy": "2026/a b.jpg"} and event["httpMethod"] == "DELETE"


def test_unknown_paths_methods_and_stages_are_forbidden(emulator, api):
    status, headers, body = call(api.url(emulator, "nowhere"))
    assert status == 403 and json.loads(body) == {"message": "Missing Authentication Token"}
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert call(api.url(emulator, "process"))[0] == 403  # GET is not a method of /process
    assert call(api.url(emulator, "files"))[0] == 403  # {proxy+} needs at least one segment
    status, _, body = call(api.url(emulator, "process", stage="staging"), method="POST", body=b"{}")
    assert status == 403 and json.loads(body) == {"message": "Forbidden"}
    assert call(urls.api_url(emulator.endpoint, "nosuchapi0", "prod", "process"), method="POST", body=b"{}")[0] == 403


def test_function_errors_and_malformed_answers_are_bad_gateway(emulator, api):
    for path in ("files/boom", "files/malformed", "files/extra"):
        status, _, body = call(api.url(emulator, path))
        assert status == 502, path
        assert json.loads(body) == {"message": "Internal server error"}


def test_undeployed_api_and_changes_after_deployment(emulator, function):
    apigw = emulator.client("apigateway")
    draft = build_api(emulator, *function, stage=None)
    permit(emulator, draft, statement=f"draft-{draft.id}")
    assert call(draft.url(emulator, "process"), method="POST", body=b"{}")[0] == 403  # no stage yet
    apigw.create_deployment(restApiId=draft.id, stageName="prod")
    assert call(draft.url(emulator, "process"), method="POST", body=b"{}")[0] == 201
    apigw.put_method(restApiId=draft.id, resourceId=draft.resources["/process"], httpMethod="PUT", authorizationType="NONE")
    apigw.put_integration(restApiId=draft.id, resourceId=draft.resources["/process"], httpMethod="PUT", type="AWS_PROXY",
                          integrationHttpMethod="POST",
                          uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{draft.function_arn}/invocations")
    assert call(draft.url(emulator, "process"), method="PUT", body=b"{}")[0] == 403  # not deployed yet
    apigw.create_deployment(restApiId=draft.id, stageName="prod")
    assert call(draft.url(emulator, "process"), method="PUT", body=b"{}")[0] == 201


def test_host_form_reaches_the_same_stage(emulator, api):
    url = urls.api_url(emulator.endpoint, api.id, "prod", "items/7", host_style=True)
    assert url == f"http://{api.id}.execute-api.localhost:{emulator.port}/prod/items/7"
    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=60)
    connection.request("GET", "/prod/items/7", headers={"Host": f"{api.id}.execute-api.localhost:{emulator.port}"})
    response = connection.getresponse()
    event = json.loads(response.read())["event"]
    connection.close()
    assert response.status == 201 and event["pathParameters"] == {"id": "7"}
