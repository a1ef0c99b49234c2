"""The emulator's own access key: made at start, kept in its state folder, the one key its users sign with.

The emulator runs whatever code is deployed to it, as the user who started
it, so it serves only requests signed with a key of its own (``signatures.py``
checks them). That key is made when an emulator first starts on a port:
``AKIA`` + 16 random uppercase letters and digits (the shape SDKs expect) and
a random 40-character secret, written to ``<state dir>/emulator-<port>.keys``
with mode 0600, so only the user who started it can read it. Later
emulators on the same port reuse it (clients that cached it keep working
across a restart); deleting the file makes the next start choose a new one.

Clients of an emulator read the key from the same file: the package's local
target (``aws.session``), ``emulator env`` (for the AWS CLI and other SDKs),
the emulator's internal clients, the tests.

moto maps any access key it has not issued to its default account, so the
tutorial's account is ``123456789012`` on every machine.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from walkthrough.errors import WalkthroughError

#: moto's default account, which the emulator's key maps to.
ACCOUNT_ID = "123456789012"
#: Where the server finds its key file when ``lifecycle.start`` chose it (tests may set it too).
KEYS_FILE_ENV = "WALKTHROUGH_EMULATOR_KEYS_FILE"

_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


@dataclass(frozen=True)
class Keys:
    """One emulator's access key id and secret."""

    access_key_id: str
    secret_access_key: str

    def boto3_kwargs(self) -> dict[str, str]:
        """As ``boto3.client(...)`` / ``boto3.Session(...)`` keyword arguments."""
        return {"aws_access_key_id": self.access_key_id, "aws_secret_access_key": self.secret_access_key}

    def environment(self) -> dict[str, str]:
        """As the environment variables the AWS CLI and SDKs read."""
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}

    def __repr__(self) -> str:  # never print the secret by accident
        return f"Keys(access_key_id={self.access_key_id!r}, secret_access_key='…')"


#: What local clients sign with for an endpoint override whose key they do not know (another emulator: moto's
#: server and LocalStack accept any key). A walkthrough emulator refuses it. It opens nothing anywhere.
PLACEHOLDER = Keys("testing", "testing")


def new_keys() -> Keys:
    """A fresh random key pair shaped like AWS's long-term keys."""
    key_id = "AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
    return Keys(key_id, secret)


def keys_file(state_dir: Path, port: int) -> Path:
    return state_dir / f"emulator-{port}.keys"


def _check_private(path: Path) -> None:
    info = path.stat()
    if info.st_uid != os.getuid():
        raise WalkthroughError(f"{path} belongs to another user: the emulator will not use keys someone else could know. Remove it.")
    if info.st_mode & 0o077:
        os.chmod(path, 0o600)


def read_keys(path: Path) -> Keys | None:
    """The keys in ``path``, or None when there is no such file (or it is not a keys file)."""
    try:
        _check_private(path)
        data = json.loads(path.read_text())
        return Keys(str(data["access_key_id"]), str(data["secret_access_key"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ensure_keys(path: Path) -> Keys:
    """The keys in ``path``, made (mode 0600, never readable by others) when missing."""
    found = read_keys(path)
    if found is not None:
        return found
    keys = new_keys()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"access_key_id": keys.access_key_id, "secret_access_key": keys.secret_access_key}, handle)
    try:
        os.link(temporary, path)  # atomic, and never replaces a file another start wrote first
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)
    found = read_keys(path)
    if found is None:
        raise WalkthroughError(f"Could not read the emulator's keys from {path}.")
    return found


def server_keys(port: int, state_dir: Path) -> Keys:
    """The keys a starting server uses: the file ``lifecycle.start`` named, else the state folder's for its port."""
    named = os.environ.get(KEYS_FILE_ENV)
    return ensure_keys(Path(named) if named else keys_file(state_dir, port))


def sign(request: urllib.request.Request, keys: Keys, region: str = "us-east-1", service: str = "walkthrough") -> urllib.request.Request:
    """Sign a urllib request with SigV4 and ``keys`` (for the emulator's own ``/_walkthrough/`` and ``/moto-api/`` endpoints)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body: Any = request.data or b""
    aws = AWSRequest(method=request.get_method(), url=request.full_url, data=body, headers=dict(request.header_items()))
    SigV4Auth(Credentials(keys.access_key_id, keys.secret_access_key), service, region).add_auth(aws)
    for name, value in aws.headers.items():
        request.add_header(name, value)
    return request
