"""Step 0: where the tutorial runs, and whether this environment has what it needs."""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from typing import Any

from walkthrough import aws
from walkthrough.config import Settings

#: (distribution, why the walkthrough needs it)
REQUIRED = (
    ("boto3", "every AWS call"),
    ("moto", "the local emulator's control planes"),
    ("pillow", "the image processing (and the local Pillow layer)"),
    ("papermill", "running the notebooks in batch"),
    ("tqdm", "progress bars"),
    # The notebook stack the learner is using.
    ("jupyterlab", "the notebooks in the browser (make lab)"),
    ("ipykernel", "the notebooks' Python kernel"),
    ("ipywidgets", "progress bars drawn as widgets in a notebook"),
)


def describe_target(settings: Settings) -> dict[str, Any]:
    """Target, region, endpoint and the account the credentials belong to (starts the emulator if local)."""
    identity = aws.client(settings, "sts").get_caller_identity()
    info: dict[str, Any] = {
        "target": settings.target,
        "region": settings.region,
        "endpoint": aws.endpoint_for(settings) or "AWS (standard endpoints)",
        "account": identity["Account"],
        "caller": identity["Arn"],
    }
    if settings.is_local:
        info["note"] = "local emulator: its own key only, nothing leaves this machine"
    else:
        info["tags"] = ", ".join(f"{k}={v}" for k, v in settings.tags.items())
        info["note"] = ("your AWS account: creating needs confirm=True; `python -m walkthrough plan --target aws` "
                        "lists what is created and what it costs, `python -m walkthrough down --target aws` removes it")
    return info


def check_environment() -> list[dict[str, Any]]:
    """Python and the packages the walkthrough relies on, with their versions."""
    rows = [{
        "component": "python",
        "version": platform.python_version(),
        "ok": sys.version_info >= (3, 11),
        "needed for": "3.11+ (Lambda runs 3.12)",
    }]
    for name, why in REQUIRED:
        try:
            version, ok = importlib.metadata.version(name), True
        except importlib.metadata.PackageNotFoundError:
            version, ok = "missing", False
        rows.append({"component": name, "version": version, "ok": ok, "needed for": why})
    return rows
