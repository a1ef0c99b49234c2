"""The Pillow layer: Lambda's Python runtime has boto3 but not Pillow.

Four ways to give the function Pillow, chosen by the step-4 parameter ``pillow_layer``:

- ``"local"`` (the default on the emulator): the Pillow the tests ran with,
  for the Python the emulator runs the function on: Pillow's manylinux wheel
  for that version (Python 3.12 for ``python3.12``, fetched once into the
  wheel cache at set-up), or this environment's own Pillow when the emulator
  runs functions on this very Python;
- ``"document"``: the document's Klayers ARN (``Klayers-p312-Pillow:6``) as
  written. Klayers deletes old versions, so on AWS it may be gone;
- ``"klayers"`` (the default on AWS): Klayers' *current* Pillow ARN for the
  region, looked up from its published list (the document's ARN, with a
  warning, when the list cannot be reached);
- ``"build"``: a layer the walkthrough builds from Pillow's manylinux wheel
  for Python 3.12 and the function's architecture, published to your account
  (independent of Klayers).

The emulator serves Klayers' Pillow ARNs too (with the same Pillow inside),
so ``"document"`` and ``"klayers"`` work there exactly as written.
"""

from __future__ import annotations

import importlib.metadata
import json
import urllib.request
from dataclasses import dataclass
from typing import Any

from walkthrough import aws, klayers
from walkthrough.config import Settings
from walkthrough.errors import WalkthroughError
from walkthrough.packaging import build_local_pillow_zip, build_pillow_layer_zip, code_sha256, pillow_layer_zip_for, wheel_tags

__all__ = [
    "CHOICES", "DOCUMENT_LAYER", "KLAYERS_ACCOUNT", "LAYER_NAME", "build_local_pillow_zip", "default_choice",
    "document_layer_arn", "pillow_layer", "publish_built_pillow_layer", "publish_local_pillow_layer",
]

LAYER_NAME = "Pillow"
#: The layer of Pillow built for the wrong Python that 09_when_it_goes_wrong publishes (and deletes again).
WRONG_PYTHON_LAYER_NAME = "Pillow-built-for-another-python"
KLAYERS_ACCOUNT = klayers.ACCOUNT
DOCUMENT_LAYER = "Klayers-p312-Pillow:6"
CHOICES = ("local", "document", "klayers", "build")
#: The function's architecture (Lambda's default); a built layer must match it.
ARCHITECTURE = "x86_64"


def document_layer_arn(region: str) -> str:
    """The Klayers ARN the document uses (Klayers publishes per region; old versions get deleted)."""
    name, version = DOCUMENT_LAYER.split(":")
    return f"arn:aws:lambda:{region}:{KLAYERS_ACCOUNT}:layer:{name}:{version}"


def default_choice(settings: Settings) -> str:
    """``"local"`` on the emulator, ``"klayers"`` on AWS."""
    return "local" if settings.is_local else "klayers"


def _publish(settings: Settings, content: bytes, description: str, version: str, architecture: str | None = None) -> dict[str, Any]:
    """Publish ``content`` as the next version of the Pillow layer, unless a version already has these bytes."""
    lam = aws.client(settings, "lambda")
    sha = code_sha256(content)
    row = {"layer": LAYER_NAME, "pillow": version, "size_mb": round(len(content) / 1e6, 1)}
    for existing in lam.list_layer_versions(LayerName=LAYER_NAME).get("LayerVersions", []):
        details = lam.get_layer_version(LayerName=LAYER_NAME, VersionNumber=existing["Version"])
        if details["Content"]["CodeSha256"] == sha:
            return {**row, "arn": existing["LayerVersionArn"], "status": "exists"}
    extra: dict[str, Any] = {"CompatibleArchitectures": [architecture]} if architecture else {}
    published = lam.publish_layer_version(
        LayerName=LAYER_NAME, Description=description, Content={"ZipFile": content},
        CompatibleRuntimes=[settings.runtime], **extra,
    )
    return {**row, "arn": published["LayerVersionArn"], "status": "created"}


def emulator_python(settings: Settings) -> str:
    """The Python version the emulator runs ``settings.runtime`` functions on (its health answer says)."""
    wanted = settings.runtime.removeprefix("python")
    endpoint = aws.emulator_endpoint(settings)
    if not endpoint:
        return wanted
    try:
        with urllib.request.urlopen(f"{endpoint.rstrip('/')}/_walkthrough/health", timeout=5) as response:
            runtimes = json.loads(response.read()).get("runtimes") or {}
    except (OSError, ValueError):
        return wanted
    return str((runtimes.get(settings.runtime) or {}).get("python") or wanted)


@dataclass(frozen=True)
class LayerContent:
    """A Pillow layer's zip and what its description says, before it is published (or packaged for CloudFormation)."""

    content: bytes
    description: str
    pillow: str
    architecture: str | None = None
    wheel: str | None = None


def local_layer_content(settings: Settings) -> LayerContent:
    """Pillow for the emulator's Python of the function's runtime (``pillow_layer="local"``)."""
    version = importlib.metadata.version("pillow")
    python = emulator_python(settings)
    try:
        content = pillow_layer_zip_for(python, ARCHITECTURE)
    except RuntimeError as exc:
        raise WalkthroughError(
            f"Pillow's wheel for Python {python} is not in the wheel cache and could not be fetched ({exc}); "
            "run `make` once with the network (or `python -m walkthrough.packaging prefetch`, BUNDLE=<dir> offline)."
        ) from None
    return LayerContent(content, f"Pillow {version} for Python {python} (the walkthrough's)", version)


def built_layer_content(settings: Settings, architecture: str = ARCHITECTURE) -> LayerContent:
    """Pillow's manylinux wheel for Python 3.12 as a layer (``pillow_layer="build"``; needs the package index once)."""
    if settings.is_local and emulator_python(settings) != "3.12":
        raise WalkthroughError(
            f"pillow_layer='build' makes a layer for Python 3.12, but the emulator runs functions with Python "
            f"{emulator_python(settings)} here (no Python 3.12 found): use pillow_layer='local' on the emulator."
        )
    try:
        content, wheel = build_pillow_layer_zip(architecture)
    except RuntimeError as exc:
        raise WalkthroughError(f"Could not build the Pillow layer ({exc}); use pillow_layer='klayers' instead.") from None
    version = wheel.name.split("-")[1]
    return LayerContent(content, f"Pillow {version} ({wheel_tags(wheel)[2]}) built by the walkthrough", version,
                        architecture, wheel.name)


def layer_content(settings: Settings, choice: str) -> LayerContent:
    """The zip of a layer the walkthrough makes itself (``"local"`` or ``"build"``)."""
    if choice == "local":
        _local_only(settings)
        return local_layer_content(settings)
    return built_layer_content(settings)


def _local_only(settings: Settings) -> None:
    if not settings.is_local:
        raise WalkthroughError(
            "pillow_layer='local' packs this machine's Pillow, which only suits the emulator: "
            "on AWS use 'klayers' (the default), 'document' or 'build'."
        )


def publish_local_pillow_layer(settings: Settings) -> dict[str, Any]:
    """Publish Pillow for the emulator's Python of the function's runtime, unless the latest version has the same content."""
    made = local_layer_content(settings)
    return _publish(settings, made.content, made.description, made.pillow)


def publish_built_pillow_layer(settings: Settings, architecture: str = ARCHITECTURE) -> dict[str, Any]:
    """Build Pillow's manylinux wheel for Python 3.12 into a layer and publish it (needs the package index)."""
    made = built_layer_content(settings, architecture)
    row = _publish(settings, made.content, made.description, made.pillow, architecture)
    return {**row, "wheel": made.wheel}


def public_layer(settings: Settings, choice: str) -> dict[str, Any]:
    """A public Klayers layer: the document's ARN (``"document"``) or Klayers' current one (``"klayers"``)."""
    document = document_layer_arn(settings.region)
    if choice == "document":
        return {"choice": choice, "layer": DOCUMENT_LAYER.split(":")[0], "arn": document, "status": "public (Klayers)"}
    found = klayers.pillow_arn(settings.region, fallback=document)
    status = "public (Klayers, current)" if found["source"] == "klayers" else "public (the document's: Klayers unreachable)"
    return {"choice": choice, "layer": found["arn"].split(":")[-2], "arn": found["arn"], "status": status,
            "pillow": found["version"] or "?"}


def resolve_choice(settings: Settings, choice: str | None) -> str:
    """``choice`` checked, or the target's default (``default_choice``)."""
    choice = (choice or default_choice(settings)).strip().lower()
    if choice not in CHOICES:
        raise WalkthroughError(f"Unknown pillow_layer {choice!r}: use one of {', '.join(repr(c) for c in CHOICES)}.")
    return choice


def pillow_layer(settings: Settings, choice: str | None = None) -> dict[str, Any]:
    """The Pillow layer for the function, by ``choice`` (see the module's docstring); a row with its ARN."""
    choice = resolve_choice(settings, choice)
    if choice == "local":
        _local_only(settings)
        return {"choice": choice, **publish_local_pillow_layer(settings)}
    if choice == "build":
        return {"choice": choice, **publish_built_pillow_layer(settings)}
    return public_layer(settings, choice)
