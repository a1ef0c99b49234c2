"""Settings: which AWS to talk to, and the names of what the tutorial creates.

One immutable object, built from environment variables and notebook (papermill)
parameters, so a cell, the CLI and a test all agree on the target, the region
and every resource name. Parameters win over the environment, which wins over
the defaults of the source document.

On the local emulator the resources have exactly the document's names. On AWS
bucket names are global across every account, so the two buckets get the
account id and region as a suffix (``raw-image-bucket-123456789012-eu-west-1``):
unique, and the same on every run, so re-running finds what the last run made.

``Settings`` is a plain value: it never calls AWS. The account id is a field;
``aws.resolve`` (or ``aws.settings``) fills it in from STS, once, and every
name that needs it is derived from it. Every resource is tagged ``project=walkthrough``
and ``walkthrough:run=<run_name>``, which is how ``python -m walkthrough down``
finds them again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any, Mapping

from walkthrough.errors import WalkthroughError

TARGETS = ("local", "aws")
DEFAULT_REGION = "us-east-1"
DEFAULT_EMULATOR_PORT = 4747
DEFAULT_RUN_NAME = "default"

#: The names the source document uses; tests and notebooks rely on them.
DOCUMENT_NAMES = {
    "raw_bucket": "raw-image-bucket",
    "processed_bucket": "processed-image-bucket",
    "table_name": "ImageMetadata",
    "role_name": "LambdaImageProcessingRole",
    "function_name": "ImageProcessingFunction",
}
#: The tag every resource of the walkthrough carries, and the key naming the run.
PROJECT_TAG = ("project", "walkthrough")
RUN_TAG_KEY = "walkthrough:run"

_BUCKET_FIELDS = {"raw_bucket": "raw_bucket_name", "processed_bucket": "processed_bucket_name"}
#: What ``from_env`` accepts as parameters.
_PARAMETERS = {"target", "region", "endpoint_url", "emulator_port", "confirm", "run_name", "account_id", *DOCUMENT_NAMES}
_TRUE = {"1", "true", "yes", "y", "on"}


def unique_bucket_name(base: str, account: str, region: str) -> str:
    """The document's bucket name made globally unique and stable: ``<base>-<account>-<region>``."""
    return f"{base}-{account}-{region}"


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in _TRUE) or (isinstance(value, int) and value == 1)


@dataclass(frozen=True)
class Settings:
    """Where the tutorial runs and what it names things.

    ``target`` is ``"local"`` (the emulator on loopback, its own key, can
    never touch a real account) or ``"aws"`` (the standard credential chain).
    ``endpoint_url`` is the emulator's address for ``local`` (found or started
    on demand when left empty) and an optional override for ``aws``.
    ``confirmed`` records the user's ``confirm=True`` (``--yes``): creating
    anything on AWS needs it (see ``walkthrough.safety``).
    """

    target: str = "local"
    region: str = DEFAULT_REGION
    endpoint_url: str | None = None
    emulator_port: int = DEFAULT_EMULATOR_PORT
    #: None: the document's name (on AWS with the account and region appended); a string: exactly that name.
    raw_bucket_name: str | None = None
    processed_bucket_name: str | None = None
    table_name: str = DOCUMENT_NAMES["table_name"]
    role_name: str = DOCUMENT_NAMES["role_name"]
    function_name: str = DOCUMENT_NAMES["function_name"]
    runtime: str = "python3.12"
    run_name: str = DEFAULT_RUN_NAME
    confirmed: bool = False
    #: The account the credentials belong to: given, or filled in by ``aws.resolve`` (one STS call).
    account_id: str | None = None

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise WalkthroughError(
                f"Unknown target {self.target!r}: use 'local' (the emulator, the default) or 'aws' (your account)."
            )
        if not self.region:
            raise WalkthroughError("The region is empty: pass one such as 'us-east-1' or 'eu-west-1'.")
        if not 0 < int(self.emulator_port) < 65536:
            raise WalkthroughError(f"Emulator port {self.emulator_port} is not a TCP port (1-65535).")
        if not self.run_name or len(self.run_name) > 128:
            raise WalkthroughError("The run name must be 1-128 characters (it becomes the walkthrough:run tag).")

    @property
    def is_local(self) -> bool:
        return self.target == "local"

    # ------------------------------------------------------------------ names

    @property
    def account(self) -> str:
        """The account the credentials belong to; ``aws.resolve(settings)`` fills it in."""
        if not self.account_id:
            raise WalkthroughError(
                "The AWS account is not known yet: build the settings with `aws.settings(...)` "
                "or pass them through `aws.resolve(settings)` (one STS call)."
            )
        return self.account_id

    def _bucket(self, key: str) -> str:
        explicit = getattr(self, _BUCKET_FIELDS[key])
        if explicit:
            return explicit
        if self.is_local:
            return DOCUMENT_NAMES[key]
        return unique_bucket_name(DOCUMENT_NAMES[key], self.account, self.region)

    @property
    def raw_bucket(self) -> str:
        """``raw-image-bucket`` locally; ``raw-image-bucket-<account>-<region>`` on AWS (names are global)."""
        return self._bucket("raw_bucket")

    @property
    def processed_bucket(self) -> str:
        """``processed-image-bucket`` locally; ``processed-image-bucket-<account>-<region>`` on AWS."""
        return self._bucket("processed_bucket")

    # ------------------------------------------------------------------- tags

    @property
    def tags(self) -> dict[str, str]:
        """The tags every resource gets: the project, and this run's name."""
        return {PROJECT_TAG[0]: PROJECT_TAG[1], RUN_TAG_KEY: self.run_name}

    def tag_list(self) -> list[dict[str, str]]:
        """``tags`` as ``[{"Key": …, "Value": …}]``, the form S3, IAM and DynamoDB take."""
        return [{"Key": k, "Value": v} for k, v in self.tags.items()]

    # ---------------------------------------------------------------- building

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **params: Any) -> "Settings":
        """Build settings from ``env`` (default ``os.environ``) and parameters.

        Parameters that are ``None`` or empty strings are ignored, so a
        papermill ``parameters`` cell can pass its defaults straight through.
        """
        env = os.environ if env is None else env
        target = chosen_target(params.pop("target", None), env)
        region = params.pop("region", None) or env.get("WALKTHROUGH_REGION")
        if not region and target == "aws":
            region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        endpoint = params.pop("endpoint_url", None)
        if not endpoint:
            endpoint = env.get("WALKTHROUGH_ENDPOINT_URL") if target == "local" else env.get("AWS_ENDPOINT_URL")
        port = params.pop("emulator_port", None) or env.get("WALKTHROUGH_EMULATOR_PORT") or DEFAULT_EMULATOR_PORT
        try:
            port = int(port)
        except ValueError:
            raise WalkthroughError(f"WALKTHROUGH_EMULATOR_PORT={port!r} is not a number.") from None
        confirm = params.pop("confirm", None)
        run_name = params.pop("run_name", None) or env.get("WALKTHROUGH_RUN_NAME") or DEFAULT_RUN_NAME
        account_id = params.pop("account_id", None) or None
        names: dict[str, Any] = {}
        for key, env_name in (("raw_bucket", "WALKTHROUGH_RAW_BUCKET"), ("processed_bucket", "WALKTHROUGH_PROCESSED_BUCKET")):
            names[_BUCKET_FIELDS[key]] = params.pop(key, None) or env.get(env_name) or None
        names.update({k: v for k, v in params.items() if k in DOCUMENT_NAMES and v})
        unknown = sorted(k for k, v in params.items() if k not in DOCUMENT_NAMES and v is not None)
        if unknown:
            raise WalkthroughError(f"Unknown setting {', '.join(unknown)}: the settings are {', '.join(sorted(_PARAMETERS))}.")
        return cls(
            target=target,
            region=region or DEFAULT_REGION,
            endpoint_url=endpoint or None,
            emulator_port=port,
            run_name=str(run_name),
            confirmed=_flag(confirm),
            account_id=account_id,
            **names,
        )

    def summary(self) -> dict[str, str]:
        """What a notebook shows about its settings: target, region and the resource names."""
        rows = {"target": self.target, "region": self.region}
        if not self.is_local:
            rows["account"] = self.account
        rows.update({
            "raw bucket": self.raw_bucket,
            "processed bucket": self.processed_bucket,
            "table": self.table_name,
            "role": self.role_name,
            "function": self.function_name,
        })
        if not self.is_local:
            rows["tags"] = ", ".join(f"{k}={v}" for k, v in self.tags.items())
        return rows

    def with_(self, **changes: Any) -> "Settings":
        """A copy with some fields changed (settings are immutable); ``raw_bucket=``/``processed_bucket=`` name a bucket."""
        for key, name in _BUCKET_FIELDS.items():
            if key in changes:
                changes[name] = changes.pop(key)
        if {"target", "endpoint_url"} & set(changes) and "account_id" not in changes:
            changes["account_id"] = None  # other credentials or another endpoint: the account must be asked again
        return replace(self, **changes)


def chosen_target(target: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The target a parameter or ``WALKTHROUGH_TARGET`` names, ``local`` by default (not yet checked to be known)."""
    env = os.environ if env is None else env
    return (target or env.get("WALKTHROUGH_TARGET") or "local").strip().lower()
