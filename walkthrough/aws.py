"""boto3 clients for the chosen target, and nothing else.

For ``local`` the clients use fixed fake credentials and the emulator's
endpoint, ignoring whatever profile, keys or endpoint the user has configured:
a local run can never reach a real account. For ``aws`` they use the standard
credential chain and no endpoint override unless the user set one.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

from walkthrough.config import Settings

#: The emulator accepts any credentials; these make the account id moto's default.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=120)


def endpoint_for(settings: Settings) -> str | None:
    """The endpoint clients will use: the emulator (started on demand) or an override."""
    if not settings.is_local:
        return settings.endpoint_url
    if settings.endpoint_url:
        return settings.endpoint_url
    from walkthrough.emulator.lifecycle import ensure_running  # local import: aws targets never need it

    return ensure_running(settings.emulator_port).endpoint


def _isolated_botocore_session() -> botocore.session.Session:
    """A botocore session blind to the user's profiles and config files."""
    session = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
    session.set_config_variable("config_file", os.devnull)
    session.set_config_variable("credentials_file", os.devnull)
    return session


def session(settings: Settings) -> boto3.Session:
    """A boto3 session for the target: fake credentials locally, the standard chain on AWS."""
    if settings.is_local:
        return boto3.Session(
            botocore_session=_isolated_botocore_session(), region_name=settings.region, **LOCAL_CREDENTIALS
        )
    return boto3.Session(region_name=settings.region)


@functools.lru_cache(maxsize=64)
def _cached_client(settings: Settings, service: str, endpoint: str | None) -> Any:
    return session(settings).client(service, endpoint_url=endpoint, config=_CLIENT_CONFIG)


def client(settings: Settings, service: str) -> Any:
    """A (cached) boto3 client for ``service`` on the settings' target."""
    return _cached_client(settings, service, endpoint_for(settings))
