"""Where the emulator serves a CloudFront distribution or an API Gateway stage (pure string functions).

Step modules call these to print a link; they import nothing else from the
emulator (no moto), so importing them costs nothing on an AWS target.

Two forms of each address, both served by the emulator on its one port:

- path form (the default), which every client can open:
  ``http://127.0.0.1:4747/_walkthrough/cloudfront/E2QWRUHEXAMPLE/photo.jpg``,
  ``http://127.0.0.1:4747/_walkthrough/apigateway/a1b2c3d4e5/prod/process``;
- host form (``host_style=True``), closer to AWS's own domains, which browsers
  resolve to loopback with no DNS set-up (``*.localhost``) but Python's urllib
  does not: ``http://e2qwruhexample.cloudfront.localhost:4747/photo.jpg``,
  ``http://a1b2c3d4e5.execute-api.localhost:4747/prod/process``.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

CLOUDFRONT_PREFIX = "/_walkthrough/cloudfront/"
APIGATEWAY_PREFIX = "/_walkthrough/apigateway/"
CLOUDFRONT_HOST_SUFFIX = ".cloudfront.localhost"
APIGATEWAY_HOST_SUFFIX = ".execute-api.localhost"


def _quote_path(path: str) -> str:
    return quote(path.lstrip("/"), safe="/~!$&'()*+,;=:@")


def _split(endpoint: str) -> tuple[str, str]:
    """(scheme, ":port" or "") of an endpoint such as ``http://127.0.0.1:4747``."""
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    return parts.scheme or "http", f":{parts.port}" if parts.port else ""


def cloudfront_url(endpoint: str, distribution_id: str, path: str = "", *, host_style: bool = False) -> str:
    """The loopback address of ``path`` (an object key, or "" for the root) through a distribution."""
    if host_style:
        scheme, port = _split(endpoint)
        return f"{scheme}://{distribution_id.lower()}{CLOUDFRONT_HOST_SUFFIX}{port}/{_quote_path(path)}"
    return f"{endpoint.rstrip('/')}{CLOUDFRONT_PREFIX}{distribution_id}/{_quote_path(path)}"


def api_url(endpoint: str, rest_api_id: str, stage: str, path: str = "", *, host_style: bool = False) -> str:
    """The loopback address of ``path`` (a resource path such as ``process``) on a deployed REST API stage."""
    tail = _quote_path(path)
    if host_style:
        scheme, port = _split(endpoint)
        return f"{scheme}://{rest_api_id.lower()}{APIGATEWAY_HOST_SUFFIX}{port}/{quote(stage, safe='')}/{tail}"
    return f"{endpoint.rstrip('/')}{APIGATEWAY_PREFIX}{rest_api_id}/{quote(stage, safe='')}/{tail}"

