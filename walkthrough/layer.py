"""The Pillow layer: Lambda's Python runtime has boto3 but not Pillow.

The document attaches Klayers' public Pillow layer by ARN. Locally, the
walkthrough builds a layer from the Pillow installed in this environment (its
``PIL`` package and the libraries its wheel vendors) and publishes it to the
emulator, so the function imports exactly the Pillow the tests ran with.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

from walkthrough import aws
from walkthrough.config import Settings
from walkthrough.packaging import code_sha256, deterministic_zip, tree_entries

LAYER_NAME = "Pillow"
KLAYERS_ACCOUNT = "770693421928"
DOCUMENT_LAYER = "Klayers-p312-Pillow:6"


def document_layer_arn(region: str) -> str:
    """The Klayers ARN the document uses (Klayers publishes per region; old versions get deleted)."""
    name, version = DOCUMENT_LAYER.split(":")
    return f"arn:aws:lambda:{region}:{KLAYERS_ACCOUNT}:layer:{name}:{version}"


def build_local_pillow_zip() -> bytes:
    """A layer zip of the installed Pillow: ``python/PIL/...``, its vendored libs and metadata."""
    import PIL

    site = Path(PIL.__file__).resolve().parent.parent
    entries = tree_entries(site / "PIL", "python/PIL")
    distribution = importlib.metadata.distribution("pillow")
    for extra in site.glob("pillow.libs"):  # manylinux wheels load these via $ORIGIN/../pillow.libs
        entries += tree_entries(extra, "python/pillow.libs")
    dist_info = Path(str(distribution._path))  # type: ignore[attr-defined]
    entries += tree_entries(dist_info, f"python/{dist_info.name}")
    return deterministic_zip(entries)


def publish_local_pillow_layer(settings: Settings) -> dict[str, Any]:
    """Publish the local Pillow layer unless the latest version already has the same content."""
    lam = aws.client(settings, "lambda")
    content = build_local_pillow_zip()
    sha = code_sha256(content)
    version = importlib.metadata.version("pillow")
    for existing in lam.list_layer_versions(LayerName=LAYER_NAME).get("LayerVersions", []):
        details = lam.get_layer_version(LayerName=LAYER_NAME, VersionNumber=existing["Version"])
        if details["Content"]["CodeSha256"] == sha:
            return {"layer": LAYER_NAME, "arn": existing["LayerVersionArn"], "status": "exists", "pillow": version,
                    "size_mb": round(len(content) / 1e6, 1)}
    published = lam.publish_layer_version(
        LayerName=LAYER_NAME,
        Description=f"Pillow {version} from the walkthrough's environment",
        Content={"ZipFile": content},
        CompatibleRuntimes=[settings.runtime],
    )
    return {"layer": LAYER_NAME, "arn": published["LayerVersionArn"], "status": "created", "pillow": version,
            "size_mb": round(len(content) / 1e6, 1)}
