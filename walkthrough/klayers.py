"""Klayers' current public layer ARNs, looked up instead of copied from a tutorial.

Klayers (https://github.com/keithrozario/Klayers) publishes Python packages as
public Lambda layers in account 770693421928, one set per region and Python
version, and deletes old versions some time after a newer one appears: an ARN
copied from a document (``Klayers-p312-Pillow:6``) can stop working for new
functions. Its API lists the latest version of every package for a region:

    https://api.klayers.cloud/api/v2/p3.12/layers/latest/<region>/json

answers a JSON list of ``{"package": "Pillow", "arn": "arn:aws:lambda:…", "packageVersion": "…"}``
(also as ``/csv`` and ``/html``; the links are in Klayers' ``deployments/python3.12/README.MD``).
"""

from __future__ import annotations

import json
import sys
import urllib.request
from typing import Any, Callable

ACCOUNT = "770693421928"
API = "https://api.klayers.cloud/api/v2/p{python}/layers/latest/{region}/json"
TIMEOUT_S = 5.0


class KlayersUnavailable(Exception):
    """The list could not be fetched or read, or names no such package."""


def latest_url(region: str, python: str = "3.12") -> str:
    return API.format(python=python, region=region)


def _layer_version(arn: str) -> int:
    try:
        return int(arn.rsplit(":", 1)[-1])
    except ValueError:
        return -1


def latest_layer(region: str, package: str = "Pillow", python: str = "3.12", timeout_s: float = TIMEOUT_S,
                 opener: Callable[..., Any] | None = None) -> dict[str, str]:
    """The newest layer Klayers lists for ``package`` in ``region``: ``{"arn", "package", "version"}``.

    Raises ``KlayersUnavailable`` when offline, on an HTTP error, on an answer
    that is not the expected JSON, or when the package is not listed.
    """
    url = latest_url(region, python)
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "walkthrough"})
    try:
        with (opener or urllib.request.urlopen)(request, timeout=timeout_s) as response:
            listing = json.loads(response.read().decode("utf-8"))
    except Exception as exc:  # noqa: BLE001 - URLError, timeouts, HTTP errors, bad JSON: all mean "not available"
        raise KlayersUnavailable(f"{url}: {type(exc).__name__}: {exc}") from exc
    if isinstance(listing, dict):  # tolerate a wrapped list
        listing = next((v for v in listing.values() if isinstance(v, list)), [])
    if not isinstance(listing, list):
        raise KlayersUnavailable(f"{url}: unexpected answer (not a list of layers)")
    wanted = [
        item for item in listing
        if isinstance(item, dict) and str(item.get("package", "")).lower() == package.lower()
        and str(item.get("arn", "")).startswith(f"arn:aws:lambda:{region}:")
    ]
    if not wanted:
        raise KlayersUnavailable(f"{url}: no {package} layer listed for {region}")
    best = max(wanted, key=lambda item: _layer_version(str(item["arn"])))
    return {"arn": str(best["arn"]), "package": str(best.get("package", package)), "version": str(best.get("packageVersion", ""))}


def pillow_arn(region: str, fallback: str, timeout_s: float = TIMEOUT_S, opener: Callable[..., Any] | None = None,
               warn: Callable[[str], None] | None = None) -> dict[str, str]:
    """Klayers' current Pillow ARN for Python 3.12 in ``region``; ``fallback`` with a one-line warning when unavailable.

    Returns ``{"arn", "source", "version"}``; ``source`` is ``"klayers"`` or ``"fallback"``.
    """
    try:
        found = latest_layer(region, "Pillow", "3.12", timeout_s, opener)
        return {"arn": found["arn"], "source": "klayers", "version": found["version"]}
    except KlayersUnavailable as exc:
        message = (f"warning: could not look up Klayers' current Pillow layer ({str(exc).splitlines()[0]}); "
                   f"using the document's {fallback}, which Klayers may have deleted.")
        (warn or (lambda text: print(text, file=sys.stderr, flush=True)))(message)
        return {"arn": fallback, "source": "fallback", "version": ""}
