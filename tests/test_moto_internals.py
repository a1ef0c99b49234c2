"""The moto internals the emulator hooks into still exist (fails naming the one a moto upgrade changed)."""

from __future__ import annotations

import boto3

from walkthrough.emulator import moto_hooks
from tests.emulator_helpers import TRUST, zip_files


def test_module_level_internals_are_present():
    assert moto_hooks.check_internals() == []


def test_function_attributes_the_runtime_reads_are_present(mocked_aws):
    from moto.awslambda.utils import get_backend

    iam, lam = boto3.client("iam"), boto3.client("lambda")
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    layer = lam.publish_layer_version(LayerName="l", Content={"ZipFile": zip_files({"python/m.py": "X = 1\n"})})["LayerVersionArn"]
    lam.create_function(FunctionName="f", Runtime="python3.12", Role=role, Handler="lambda_function.lambda_handler",
                        Code={"ZipFile": zip_files({"lambda_function.py": "def lambda_handler(e, c): return 1\n"})}, Layers=[layer])
    function = get_backend("123456789012", "us-east-1").get_function("f")
    assert moto_hooks.check_internals(function) == []
    spec, code = moto_hooks.spec_of(function), moto_hooks.code_of(function)
    assert spec.name == "f" and spec.layer_arns == (layer,)
    assert code.code_zip.startswith(b"PK") and len(code.layer_zips) == 1
