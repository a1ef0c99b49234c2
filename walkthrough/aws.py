"""boto3 clients for the chosen target, and the answers the settings need from it (the account).

For ``local`` the clients use the emulator's own key and endpoint, ignoring
whatever profile, keys or endpoint the user has configured: a local run can
never reach a real account, and never sends the user's AWS credentials
anywhere (``local_keys``). For ``aws`` they use the standard
credential chain and no endpoint override unless the user set one, and every
operation that creates something first passes ``safety.require_confirmation``
(the one confirmation gate; see ``walkthrough/safety.py``).

``settings(...)`` is what notebooks and the CLI start from: the settings of
``Settings.from_env`` with the account filled in (``resolve``: one STS call
per target, none when the account is given).
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

from walkthrough import safety
from walkthrough.botocore_data import share_loader
from walkthrough.config import Settings
from walkthrough.emulator import credentials as emulator_credentials
from walkthrough.emulator import lifecycle

_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=120)


def endpoint_for(settings: Settings) -> str | None:
    """The endpoint clients will use: the emulator (started on demand) or an override."""
    if not settings.is_local:
        return settings.endpoint_url
    if settings.endpoint_url:
        return settings.endpoint_url
    port = settings.emulator_port
    answered = _ANSWERED.get(port)
    if answered and time.monotonic() - answered[0] < ANSWERED_FOR_S:
        return answered[1]
    info = lifecycle.ensure_running(port)
    _FIRST_EMULATOR.setdefault(info.port, info.pid)  # restart detection, see emulator_restarted()
    _ANSWERED[port] = (time.monotonic(), info.endpoint)
    return info.endpoint


#: port -> pid of the first emulator this process reached there (``endpoint_for`` starts a new one on demand).
_FIRST_EMULATOR: dict[int, int] = {}
#: How long an emulator that answered is taken to be there without asking again. Every client a step
#: asks for checked the emulator's health first: 259 requests in one run of notebook 09, about 1 ms
#: of CPU each on both sides. One that stops meanwhile fails the call in hand; the next step, later
#: than this, starts it again as before.
ANSWERED_FOR_S = 1.0
#: port -> (when it last answered, its endpoint).
_ANSWERED: dict[int, tuple[float, str]] = {}


def emulator_restarted() -> bool | None:
    """Whether an emulator this process used has stopped or been replaced since (its state is gone).

    None when this process has used no emulator it started or found itself
    (target ``aws``, or an endpoint override): then nothing can be said.
    ``diagnose.explain`` asks this when a resource turns out to be missing.
    """
    if not _FIRST_EMULATOR:
        return None
    return any((lifecycle.health(port) or {}).get("pid") != pid for port, pid in list(_FIRST_EMULATOR.items()))


def _isolated_botocore_session() -> botocore.session.Session:
    """A botocore session blind to the user's profiles and config files."""
    session = share_loader(botocore.session.Session(session_vars={"profile": (None, None, None, None)}))
    session.set_config_variable("config_file", os.devnull)
    session.set_config_variable("credentials_file", os.devnull)
    return session


def local_keys(settings: Settings) -> emulator_credentials.Keys:
    """The key local clients sign with: the emulator's own, never the user's AWS credentials.

    Without an endpoint override, the key of the emulator on the settings' port
    (started on demand). With one (``WALKTHROUGH_ENDPOINT_URL``): the key file
    of the emulator on that loopback port in this state folder, else the key
    file ``WALKTHROUGH_EMULATOR_KEYS_FILE`` names, else the placeholder key
    that other emulators (moto's server, LocalStack) accept and a walkthrough
    emulator refuses.
    """
    if not settings.endpoint_url:
        found = emulator_credentials.read_keys(lifecycle.keys_file(settings.emulator_port))
        if found is None:
            lifecycle.ensure_running(settings.emulator_port)  # its first start makes the key
            found = lifecycle.keys(settings.emulator_port)
        return found
    parts = urlsplit(settings.endpoint_url)
    if parts.hostname in ("127.0.0.1", "localhost", "::1") and parts.port:
        found = emulator_credentials.read_keys(lifecycle.keys_file(parts.port))
        if found:
            return found
    named = os.environ.get(emulator_credentials.KEYS_FILE_ENV)
    found = emulator_credentials.read_keys(Path(named)) if named else None
    return found or emulator_credentials.PLACEHOLDER


#: Local sessions by thread, region and key: boto3 sessions are not thread-safe, clients are.
_LOCAL_SESSIONS = threading.local()


def session(settings: Settings) -> boto3.Session:
    """A boto3 session for the target: the emulator's key locally (``local_keys``), the standard chain on AWS.

    Local sessions are reused (per thread, region and key): each new botocore
    session parses endpoints.json and every service model again, which cost a
    notebook kernel about a second (1.2 s of CPU of its 5 s in the notebook
    tests). On AWS each call reads the credential chain afresh; every session
    reads botocore's data files through one loader (``botocore_data``).
    """
    if settings.is_local:
        keys = local_keys(settings)
        cache = _LOCAL_SESSIONS.__dict__.setdefault("sessions", {})
        key = (settings.region, keys.access_key_id, keys.secret_access_key)
        if key not in cache:
            cache[key] = boto3.Session(botocore_session=_isolated_botocore_session(), region_name=settings.region, **keys.boto3_kwargs())
        return cache[key]
    return boto3.Session(botocore_session=share_loader(botocore.session.Session()), region_name=settings.region)


@functools.lru_cache(maxsize=64)
def _cached_client(settings: Settings, service: str, endpoint: str | None) -> Any:
    client = session(settings).client(service, endpoint_url=endpoint, config=_CLIENT_CONFIG)
    if not settings.is_local:
        safety.gate_creating_calls(settings, client, where=lambda: _where(settings))
    return client


def _where(settings: Settings) -> str:
    """What the confirmation question names: the account and region."""
    try:
        account_id = account(settings)
    except Exception:  # noqa: BLE001 - the question must not fail because STS did
        account_id = "(unknown)"
    return f"AWS account {account_id} in {settings.region}"


def client(settings: Settings, service: str) -> Any:
    """A (cached) boto3 client for ``service`` on the settings' target."""
    return _cached_client(_without_account(settings), service, endpoint_for(settings))


def _without_account(settings: Settings) -> Settings:
    """The settings as a cache key for what does not depend on the account (clients, the account itself)."""
    return replace(settings, account_id=None) if settings.account_id else settings


@functools.lru_cache(maxsize=64)
def _caller_account(settings: Settings) -> str:
    return client(settings, "sts").get_caller_identity()["Account"]


def account(settings: Settings) -> str:
    """The account the settings' credentials belong to: given, or asked from STS once per target and endpoint.

    The local emulator's own account needs no question: its credentials always map to it.
    """
    if settings.account_id:
        return settings.account_id
    if settings.is_local and not settings.endpoint_url:
        return emulator_credentials.ACCOUNT_ID
    return _caller_account(_without_account(settings))


def resolve(settings: Settings) -> Settings:
    """The settings with the account filled in, so every name derived from it is known."""
    return settings if settings.account_id else replace(settings, account_id=account(settings))


def settings(**params: Any) -> Settings:
    """Settings from the environment and these parameters (a notebook's, the CLI's), resolved for the target."""
    return resolve(Settings.from_env(**params))


@functools.lru_cache(maxsize=16)
def _answers_as_emulator(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint.rstrip('/')}/_walkthrough/health", timeout=2) as response:
            return json.loads(response.read()).get("service") == "walkthrough-emulator"
    except Exception:  # noqa: BLE001 - anything but the emulator's answer means "not the emulator"
        return False


def emulator_endpoint(settings: Settings) -> str | None:
    """The walkthrough emulator's address when the clients talk to it, else None.

    Always the emulator for ``local``. For ``aws``, only when an endpoint
    override is set and answers the emulator's ``/_walkthrough/health`` (asked
    once per endpoint): then CloudFront and API Gateway addresses are the
    emulator's loopback ones, since ``*.cloudfront.net`` would not reach it.
    """
    endpoint = endpoint_for(settings)
    if settings.is_local:
        return endpoint
    if endpoint and _answers_as_emulator(endpoint):
        return endpoint
    return None


def on_emulator(settings: Settings) -> bool:
    """The walkthrough's emulator answers (target local, or an AWS-compatible endpoint).

    Then there is nothing to wait out: it settles at once, so polls go at its
    pace (a fifth of a second), not AWS's (10-15 s between polls of a
    CloudFront distribution or a stack, which only wait there).
    """
    return emulator_endpoint(settings) is not None
