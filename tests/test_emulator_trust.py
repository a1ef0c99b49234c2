"""What the emulator trusts: its own key, its own host names, no CORS unless asked.

The emulator runs the code deployed to it as the user who started it, so
anyone who could call it could run code as that user. Each test here tries
what an attacker on the same machine, or a web page in the learner's
browser, would try, and fails if its defence is removed.

Error codes and wording: S3's from moto's ``moto/s3/exceptions.py``
(``S3InvalidAccessKeyIdError``, ``S3SignatureDoesNotMatchError``) and AWS's S3
error list; IAM's from ``moto/core/exceptions.py``
(``InvalidClientTokenIdError``, ``SignatureDoesNotMatchError``); DynamoDB's
and Lambda's ``UnrecognizedClientException`` / ``InvalidSignatureException``
as AWS answers them (the AWS SDKs' issue trackers quote them, e.g.
aws/aws-sdk-js#254 for "Signature expired: … (… - 15 min.)").
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import re
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from unittest import mock

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.emulator_helpers import TRUST, zip_files
from walkthrough import Settings, aws
from walkthrough.emulator import credentials, lifecycle
from walkthrough.emulator.origins import Origins

pytestmark = pytest.mark.emulator

MADE_UP = {"aws_access_key_id": "AKIAEVIL0000000000XX", "aws_secret_access_key": "evil"}


def made_up_client(emulator, service: str, **keys: str):
    return boto3.client(service, endpoint_url=emulator.endpoint, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}), **(keys or MADE_UP))


def error_of(call) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    return error["Error"]["Code"], error["Error"].get("Message", ""), error["ResponseMetadata"]["HTTPStatusCode"]


def raw(emulator, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


# ------------------------------------------------------------------------------ its own key


def test_the_key_is_its_own_shaped_like_aws_and_private(emulator):
    keys = emulator.keys
    assert re.fullmatch(r"AKIA[A-Z0-9]{16}", keys.access_key_id) and len(keys.secret_access_key) == 40
    assert keys.access_key_id != credentials.PLACEHOLDER.access_key_id
    mode = stat.S_IMODE(os.stat(lifecycle.keys_file(emulator.port)).st_mode)
    assert mode == 0o600, oct(mode)


def test_made_up_keys_are_refused_by_s3(emulator):
    code, message, status = error_of(lambda: made_up_client(emulator, "s3").list_buckets())
    assert (code, status) == ("InvalidAccessKeyId", 403)
    assert message == "The AWS Access Key Id you provided does not exist in our records."
    code, _, status = error_of(lambda: made_up_client(emulator, "s3").create_bucket(Bucket=emulator.unique("evil")))
    assert (code, status) == ("InvalidAccessKeyId", 403)


def test_made_up_keys_are_refused_by_lambda_iam_and_dynamodb(emulator):
    code, message, status = error_of(lambda: made_up_client(emulator, "lambda").list_functions())
    assert (code, message, status) == ("UnrecognizedClientException", "The security token included in the request is invalid.", 403)
    code, message, status = error_of(lambda: made_up_client(emulator, "iam").create_role(RoleName="evil", AssumeRolePolicyDocument=TRUST))
    assert (code, message, status) == ("InvalidClientTokenId", "The security token included in the request is invalid.", 403)
    code, message, status = error_of(lambda: made_up_client(emulator, "dynamodb").list_tables())
    assert (code, message, status) == ("UnrecognizedClientException", "The security token included in the request is invalid.", 400)
    roles = [r["RoleName"] for r in emulator.client("iam").list_roles()["Roles"]]
    assert "evil" not in roles


def test_the_right_key_id_with_a_wrong_secret_is_a_signature_mismatch(emulator):
    wrong = {"aws_access_key_id": emulator.keys.access_key_id, "aws_secret_access_key": "not-the-secret"}
    assert error_of(lambda: made_up_client(emulator, "s3", **wrong).list_buckets())[0] == "SignatureDoesNotMatch"
    assert error_of(lambda: made_up_client(emulator, "iam", **wrong).list_roles())[0] == "SignatureDoesNotMatch"
    assert error_of(lambda: made_up_client(emulator, "dynamodb", **wrong).list_tables())[0] == "InvalidSignatureException"
    assert error_of(lambda: made_up_client(emulator, "lambda", **wrong).list_functions())[0] == "InvalidSignatureException"


def test_the_attack_from_the_issue_runs_nothing(emulator, tmp_path):
    """Made-up keys: no role, no function, no file written on the host."""
    marker = tmp_path / "pwned"
    source = f"def lambda_handler(event, context):\n    open({str(marker)!r}, 'w').write('x')\n"
    iam, lam = made_up_client(emulator, "iam"), made_up_client(emulator, "lambda")
    name = emulator.unique("evil")
    for step in (
        lambda: iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST),
        lambda: lam.create_function(FunctionName=name, Runtime="python3.12", Role=f"arn:aws:iam::123456789012:role/{name}",
                                    Handler="lambda_function.lambda_handler", Code={"ZipFile": zip_files({"lambda_function.py": source})}),
        lambda: lam.invoke(FunctionName=name),
    ):
        try:
            step()
        except ClientError:
            pass
    assert not marker.exists()
    assert name not in [f["FunctionName"] for f in emulator.client("lambda").list_functions()["Functions"]]
    assert name not in [r["RoleName"] for r in emulator.client("iam").list_roles()["Roles"]]


def test_unsigned_api_requests_are_refused_except_anonymous_s3(emulator):
    status, _, body = raw(emulator, "GET", "/2015-03-31/functions/", {"Content-Type": "application/json"})
    # unsigned and not S3-shaped: moto would send it to S3, which refuses anonymous listing of a missing bucket
    assert status in (403, 404)
    status, _, body = raw(emulator, "POST", "/", {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"}, b"{}")
    assert status == 400 and json.loads(body)["__type"] == "MissingAuthenticationTokenException"
    status, _, body = raw(emulator, "POST", "/", {"Content-Type": "application/x-www-form-urlencoded"}, b"Action=AssumeRoleWithWebIdentity&RoleArn=arn:aws:iam::123456789012:role/x&RoleSessionName=s&WebIdentityToken=t&Version=2011-06-15")
    assert status == 403 and b"MissingAuthenticationToken" in body
    status, _, body = raw(emulator, "PUT", f"/{emulator.unique('anonymous')}")  # anonymous CreateBucket: S3's AccessDenied
    assert status == 403 and b"<Code>AccessDenied</Code>" in body


def test_s3_signature_version_2_is_verified_too(emulator):
    """boto3 presigns S3 URLs with SigV2 unless told s3v4; S3 still verifies those, and so does the emulator."""
    date = {"Date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())}
    status, _, body = raw(emulator, "GET", "/", {"Authorization": f"AWS {emulator.keys.access_key_id}:c2lnbmF0dXJl", **date})
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    status, _, body = raw(emulator, "GET", "/", {"Authorization": "AWS AKIAEVIL0000000000XX:c2lnbmF0dXJl", **date})
    assert status == 403 and b"<Code>InvalidAccessKeyId</Code>" in body
    status, _, body = raw(emulator, "GET", "/", {"X-Amz-Date": "20260101T000000Z", "Authorization": "AWS4-HMAC-SHA256 nonsense"})
    assert status == 400


def test_its_own_endpoints_need_its_key_except_health(emulator):
    assert raw(emulator, "GET", "/_walkthrough/health")[0] == 200
    for method, path in (("POST", "/_walkthrough/faults"), ("GET", "/_walkthrough/faults"), ("GET", "/_walkthrough/idle?timeout=0"),
                         ("POST", "/moto-api/reset"), ("GET", "/moto-api/data.json")):
        status, _, body = raw(emulator, method, path, body=b'{"service": "s3", "operation": "GetObject"}' if method == "POST" else None)
        assert status == 403 and b"emulator's key" in body, (method, path)
    bucket = emulator.unique("survives")
    emulator.client("s3").create_bucket(Bucket=bucket)
    raw(emulator, "POST", "/moto-api/reset")  # refused: the bucket is still there
    assert bucket in [b["Name"] for b in emulator.client("s3").list_buckets()["Buckets"]]
    assert emulator.control("_walkthrough/faults") == {"faults": [], "injected": emulator.control("_walkthrough/faults")["injected"]}


@pytest.mark.parametrize("version", ["s3v4", "default"])
def test_a_presigned_url_works_then_expires(emulator, version):
    s3 = emulator.client("s3") if version == "default" else boto3.client(
        "s3", endpoint_url=emulator.endpoint, region_name="us-east-1", config=Config(signature_version="s3v4"), **emulator.keys.boto3_kwargs())
    bucket = emulator.unique("presigned")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a b+c.txt", Body=b"hello")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "a b+c.txt"}, ExpiresIn=3600)
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.read() == b"hello"
    tampered = url.replace("a%20b%2Bc.txt", "other.txt")
    assert tampered != url
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(tampered, timeout=30)
    assert refused.value.code == 403 and b"SignatureDoesNotMatch" in refused.value.read()
    short = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "a b+c.txt"}, ExpiresIn=1)
    time.sleep(2.1)
    with pytest.raises(urllib.error.HTTPError) as expired:
        urllib.request.urlopen(short, timeout=30)
    body = expired.value.read()
    assert expired.value.code == 403 and b"<Code>AccessDenied</Code>" in body and b"Request has expired" in body


def test_a_presigned_put_works(emulator):
    s3 = boto3.client("s3", endpoint_url=emulator.endpoint, region_name="us-east-1", config=Config(signature_version="s3v4"),
                      **emulator.keys.boto3_kwargs())
    bucket = emulator.unique("presigned-put")
    s3.create_bucket(Bucket=bucket)
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.txt"}, ExpiresIn=600)
    with urllib.request.urlopen(urllib.request.Request(url, data=b"uploaded", method="PUT", headers={"Content-Type": "text/plain"}), timeout=30) as response:
        assert response.status == 200
    assert s3.get_object(Bucket=bucket, Key="up.txt")["Body"].read() == b"uploaded"


def test_a_request_signed_twenty_minutes_ago_is_too_skewed(emulator):
    past = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=20)
    s3, dynamodb = emulator.client("s3"), emulator.client("dynamodb")
    with mock.patch("botocore.auth.get_current_datetime", return_value=past):
        code, message, status = error_of(lambda: s3.list_buckets())
        assert (code, status) == ("RequestTimeTooSkewed", 403)
        code, message, _ = error_of(lambda: dynamodb.list_tables())
        assert code == "InvalidSignatureException" and message.startswith("Signature expired:") and message.endswith("- 15 min.)")


def test_uploads_of_every_shape_verify(emulator, tmp_path):
    """put_object (with boto3's default checksums), upload_file (multipart above the threshold), copy, delete_objects."""
    from boto3.s3.transfer import TransferConfig

    s3 = emulator.client("s3")
    bucket = emulator.unique("shapes")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="2026/a b.jpg", Body=b"x" * 1000)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    s3.upload_file(str(big), bucket, "big.bin", Config=TransferConfig(multipart_threshold=5 * 1024 * 1024))
    s3.copy_object(Bucket=bucket, Key="copy.jpg", CopySource={"Bucket": bucket, "Key": "2026/a b.jpg"})
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "copy.jpg"}]})
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["2026/a b.jpg", "big.bin"]


def test_credentials_from_sts_assume_role_verify(emulator):
    iam = emulator.client("iam")
    name = emulator.unique("assumable")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    minted = emulator.client("sts").assume_role(RoleArn=arn, RoleSessionName="me")["Credentials"]
    keys = {"aws_access_key_id": minted["AccessKeyId"], "aws_secret_access_key": minted["SecretAccessKey"]}
    as_role = made_up_client(emulator, "sts", **keys, aws_session_token=minted["SessionToken"])
    assert as_role.get_caller_identity()["Arn"].endswith(f"assumed-role/{name}/me")
    without_token = made_up_client(emulator, "sts", **keys)
    assert error_of(lambda: without_token.get_caller_identity())[0] == "InvalidClientTokenId"


# ------------------------------------------------------------------------------ its own host names


@pytest.mark.parametrize("host", ["rebind.evil.example:{port}", "rebind.evil.example", "127.0.0.1.nip.io:{port}", "localhost:1", "ec2-127-0-0-1.compute-1.amazonaws.com:{port}"])
def test_a_foreign_host_is_refused_before_anything_runs(emulator, host):
    host = host.format(port=emulator.port)
    status, headers, body = raw(emulator, "GET", "/_walkthrough/health", {"Host": host})
    assert status == 403 and b"DNS rebinding" in body and "access-control-allow-origin" not in headers
    status, _, _ = raw(emulator, "GET", "/_walkthrough/cloudfront/E0NOSUCHDIST00/index.html", {"Host": host})
    assert status == 403


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "e2qwruhexample.cloudfront.localhost:{port}", "d111111abcdef8.cloudfront.net"])
def test_its_own_host_names_are_served(emulator, host):
    status, _, body = raw(emulator, "GET", "/_walkthrough/health", {"Host": host.format(port=emulator.port)})
    assert status != 403 and b"DNS rebinding" not in body  # the CloudFront host forms answer 404: no such distribution


def test_a_signed_request_under_a_foreign_host_is_refused_too(emulator):
    """A valid signature does not make a foreign host acceptable (the host check runs first)."""
    request = credentials.sign(urllib.request.Request(f"http://127.0.0.1:{emulator.port}/_walkthrough/faults"), emulator.keys)
    headers = {k: v for k, v in request.header_items()}
    status, _, body = raw(emulator, "GET", "/_walkthrough/faults", {**headers, "Host": f"rebind.evil.example:{emulator.port}"})
    assert status == 403 and b"DNS rebinding" in body


# ------------------------------------------------------------------------------ no CORS unless asked


def test_a_cross_origin_preflight_gets_no_allow_headers(emulator):
    preflight = {"Origin": "http://evil.example", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "authorization"}
    for path in ("/", "/some-bucket/key", "/2015-03-31/functions/", "/_walkthrough/health"):
        status, headers, _ = raw(emulator, "OPTIONS", path, preflight)
        assert not [h for h in headers if h.startswith("access-control-allow")], (path, headers)
        assert status == 403
    status, headers, _ = raw(emulator, "GET", "/_walkthrough/health", {"Origin": "http://evil.example"})
    assert status == 200 and not [h for h in headers if h.startswith("access-control-")]


def test_listed_origins_get_cors_and_other_origins_never_do():
    """Unit test of the layer: a listed origin's preflight and answers; any Access-Control-* an answer carries (a bucket's CORS) is dropped for others."""
    origins = Origins(4747, ["http://localhost:8888"])
    seen: dict = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, dict(headers)

    environ = {"HTTP_HOST": "127.0.0.1:4747", "REQUEST_METHOD": "OPTIONS", "HTTP_ORIGIN": "http://localhost:8888",
               "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "PUT", "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "authorization"}
    origins(environ, start_response, lambda e, s: pytest.fail("a preflight must not reach the emulator"))
    assert seen["status"].startswith("200") and seen["headers"]["Access-Control-Allow-Origin"] == "http://localhost:8888"
    assert seen["headers"]["Access-Control-Allow-Headers"] == "authorization"

    def app(environ, start):
        start("200 OK", [("Access-Control-Allow-Origin", "*"), ("Content-Type", "text/plain")])
        return [b"ok"]

    origins({**environ, "REQUEST_METHOD": "GET"}, start_response, app)
    assert seen["headers"]["Access-Control-Allow-Origin"] == "http://localhost:8888"
    origins({**environ, "REQUEST_METHOD": "GET", "HTTP_ORIGIN": "http://evil.example"}, start_response, app)
    assert "Access-Control-Allow-Origin" not in seen["headers"]


# ------------------------------------------------------------------------------ its clients


def test_the_aws_cli_works_after_eval_emulator_env(emulator):
    bucket = emulator.unique("cli")
    emulator.client("s3").create_bucket(Bucket=bucket)
    aws_cli = os.path.join(os.path.dirname(sys.executable), "aws")
    script = f'eval "$("{sys.executable}" -m walkthrough emulator env --port {emulator.port})" && "{aws_cli}" s3 ls'
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert bucket in done.stdout
    assert emulator.keys.access_key_id in subprocess.run(
        [sys.executable, "-m", "walkthrough", "emulator", "env", "--port", str(emulator.port)], capture_output=True, text=True, env=env, timeout=60,
    ).stdout
    refused = subprocess.run(["bash", "-c", script.replace("&& ", "&& AWS_SECRET_ACCESS_KEY=evil ")], capture_output=True, text=True, env=env, timeout=120)
    assert refused.returncode != 0 and "SignatureDoesNotMatch" in refused.stderr


def test_local_clients_sign_with_the_emulators_key(emulator, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALLOOKINGKEY00")
    settings = Settings.from_env(endpoint_url=emulator.endpoint)
    assert aws.session(settings).get_credentials().access_key == emulator.keys.access_key_id
    assert aws.client(settings, "sts").get_caller_identity()["Account"] == credentials.ACCOUNT_ID


def test_a_functions_role_credentials_verify(emulator):
    """The worker signs with the role credentials the emulator minted; they verify, and name the role."""
    source = (
        "import boto3\n"
        "def lambda_handler(event, context):\n"
        "    return boto3.client('sts').get_caller_identity()['Arn']\n"
    )
    name = emulator.deploy(source)
    arn, error = emulator.invoke(name)
    assert error is None and ":assumed-role/" in arn and arn.endswith(f"/{name}")
