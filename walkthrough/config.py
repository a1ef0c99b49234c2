"""Settings: which AWS to talk to, and the names of what the tutorial creates.

One immutable object, built from environment variables and notebook (papermill)
parameters, so a cell, the CLI and a test all agree on the target, the region
and every resource name. Parameters win over the environment, which wins over
the defaults of the source document.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from walkthrough.errors import WalkthroughError

TARGETS = ("local", "aws")
DEFAULT_REGION = "us-east-1"
DEFAULT_EMULATOR_PORT = 4747

#: The names the source document uses; tests and notebooks rely on them.
DOCUMENT_NAMES = {
    "raw_bucket": "raw-image-bucket",
    "processed_bucket": "processed-image-bucket",
    "table_name": "ImageMetadata",
    "role_name": "LambdaImageProcessingRole",
    "function_name": "ImageProcessingFunction",
}


@dataclass(frozen=True)
class Settings:
    """Where the tutorial runs and what it names things.

    ``target`` is ``"local"`` (the emulator on loopback, fake credentials, can
    never touch a real account) or ``"aws"`` (the standard credential chain).
    ``endpoint_url`` is the emulator's address for ``local`` (found or started
    on demand when left empty) and an optional override for ``aws``.
    """

    target: str = "local"
    region: str = DEFAULT_REGION
    endpoint_url: str | None = None
    emulator_port: int = DEFAULT_EMULATOR_PORT
    raw_bucket: str = DOCUMENT_NAMES["raw_bucket"]
    processed_bucket: str = DOCUMENT_NAMES["processed_bucket"]
    table_name: str = DOCUMENT_NAMES["table_name"]
    role_name: str = DOCUMENT_NAMES["role_name"]
    function_name: str = DOCUMENT_NAMES["function_name"]
    runtime: str = "python3.12"
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise WalkthroughError(
                f"Unknown target {self.target!r}: use 'local' (the emulator, the default) or 'aws' (your account)."
            )
        if not self.region:
            raise WalkthroughError("The region is empty: pass one such as 'us-east-1' or 'eu-west-1'.")
        if not 0 < int(self.emulator_port) < 65536:
            raise WalkthroughError(f"Emulator port {self.emulator_port} is not a TCP port (1-65535).")

    @property
    def is_local(self) -> bool:
        return self.target == "local"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **params: Any) -> "Settings":
        """Build settings from ``env`` (default ``os.environ``) and parameters.

        Parameters that are ``None`` or empty strings are ignored, so a
        papermill ``parameters`` cell can pass its defaults straight through.
        """
        env = os.environ if env is None else env
        target = (params.pop("target", None) or env.get("WALKTHROUGH_TARGET") or "local").strip().lower()
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
        known = {k: v for k, v in params.items() if k in DOCUMENT_NAMES and v}
        extra = {k: v for k, v in params.items() if k not in DOCUMENT_NAMES and v is not None}
        return cls(
            target=target,
            region=region or DEFAULT_REGION,
            endpoint_url=endpoint or None,
            emulator_port=port,
            extra=extra,
            **known,
        )

    def summary(self) -> dict[str, str]:
        """What a notebook shows about its settings: target, region and the resource names."""
        return {
            "target": self.target,
            "region": self.region,
            "raw bucket": self.raw_bucket,
            "processed bucket": self.processed_bucket,
            "table": self.table_name,
            "role": self.role_name,
            "function": self.function_name,
        }

    def with_(self, **changes: Any) -> "Settings":
        """A copy with some fields changed (settings are immutable)."""
        return replace(self, **changes)
