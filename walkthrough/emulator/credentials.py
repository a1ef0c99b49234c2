"""The credentials and account every client of the local emulator uses.

moto maps any access key it has not issued to its default account, so these
fixed values make the tutorial's account ``123456789012`` on every machine.
They open nothing real: the local target never sends them anywhere but
loopback. One definition, used by the package's clients, the emulator's own
internal clients and ``emulator env``.
"""

from __future__ import annotations

ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
#: moto's default account, which the credentials above map to.
ACCOUNT_ID = "123456789012"


def boto3_kwargs() -> dict[str, str]:
    """The credentials as ``boto3.client(...)`` / ``boto3.Session(...)`` keyword arguments."""
    return {"aws_access_key_id": ACCESS_KEY_ID, "aws_secret_access_key": SECRET_ACCESS_KEY}


def environment() -> dict[str, str]:
    """The credentials as the environment variables the AWS CLI and SDKs read."""
    return {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}
