"""What a web browser can make of the emulator: its own host names only, and no CORS unless asked.

A page the learner has open can make the browser send requests to
``127.0.0.1:<port>``: by DNS rebinding (``rebind.evil.example`` first resolves
to the page's server, then to loopback) or by a cross-origin request. Two
defences, both before anything runs:

- **Host names.** A request is served only when its ``Host`` names the
  emulator: ``127.0.0.1``, ``localhost``, ``[::1]`` or any ``*.localhost``
  name (the CloudFront and API Gateway host forms), with the emulator's port.
  A browser always sends the page's own host, so a rebound page is refused.
  Also accepted, with any port: the AWS domains the emulator answers for when
  a client names them in ``Host`` (``dxxxx.cloudfront.net`` for a
  distribution, ``<api>.execute-api.<region>.amazonaws.com`` for a stage),
  because those names resolve to AWS and never to loopback, so no page can
  reach the emulator through them. (Not ``*.amazonaws.com`` in general: some
  of its names resolve to any address, loopback included.) A request with no
  ``Host`` at all (HTTP/1.0) cannot come from a browser and is let through.
- **CORS.** No ``Access-Control-Allow-*`` header leaves the emulator (moto's
  global CORS is off, and any such header an answer carries, a bucket's CORS
  configuration's for instance, is dropped) unless the request's ``Origin``
  is listed in ``WALKTHROUGH_EMULATOR_CORS_ORIGINS`` (comma-separated, e.g.
  ``http://localhost:8888``). A preflight from any other origin gets a 403
  with no allow headers; one from a listed origin is allowed for the method
  and headers it asks for.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable, Iterable

from walkthrough.emulator.wsgi import respond

CORS_ENV = "WALKTHROUGH_EMULATOR_CORS_ORIGINS"
_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "[::1]"}
_AWS_NAMES = re.compile(r"^(?:[a-z0-9]+\.cloudfront\.net|[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com)$")


def split_host(host: str) -> tuple[str, int | None]:
    """(name, port) of a ``Host`` header value; port None when absent or not a number."""
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        name += "]"
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    return name.rstrip("."), int(port) if port.isdigit() else None


class Origins:
    """The host check and the CORS policy, as one WSGI layer in front of everything else."""

    def __init__(self, port: int, cors_origins: Iterable[str] = (), extra_hosts: Iterable[str] = ()) -> None:
        self.port = port
        self.cors_origins = {o.strip().rstrip("/").lower() for o in cors_origins if o.strip()}
        self.names = _LOOPBACK_NAMES | {h.lower() for h in extra_hosts if h and h not in ("0.0.0.0", "::")}
        self.refused_hosts = 0
        self.refused_preflights = 0

    @classmethod
    def from_env(cls, port: int, bind_host: str = "127.0.0.1") -> "Origins":
        return cls(port, (os.environ.get(CORS_ENV) or "").split(","), (bind_host,))

    def host_allowed(self, host: str | None) -> bool:
        if not host:
            return True
        name, port = split_host(host)
        if _AWS_NAMES.match(name):
            return True
        if port is None:
            port = 80
        return port == self.port and (name in self.names or name.endswith(".localhost"))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any],
                 app: Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]) -> Iterable[bytes]:
        if not self.host_allowed(environ.get("HTTP_HOST")):
            self.refused_hosts += 1
            body = (f"Refused: Host {environ.get('HTTP_HOST')!r} is not this emulator's (127.0.0.1, localhost, [::1] "
                    f"or *.localhost, port {self.port}); this defends against DNS rebinding.\n").encode()
            return respond(start_response, 403, body, content_type="text/plain; charset=utf-8")
        origin = (environ.get("HTTP_ORIGIN") or "").strip()
        allowed = bool(origin) and origin.rstrip("/").lower() in self.cors_origins
        if environ.get("REQUEST_METHOD") == "OPTIONS" and origin and environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"):
            return self._preflight(environ, start_response, origin, allowed)

        def without_cors(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
            if allowed:
                kept += [("Access-Control-Allow-Origin", origin), ("Access-Control-Expose-Headers", "*"), ("Vary", "Origin")]
            return start_response(status, kept, exc_info) if exc_info else start_response(status, kept)

        return app(environ, without_cors)

    def _preflight(self, environ: dict[str, Any], start_response: Callable[..., Any], origin: str, allowed: bool) -> list[bytes]:
        if not allowed:
            self.refused_preflights += 1
            body = f"CORS is off for origin {origin!r}: list it in {CORS_ENV} to allow it.\n".encode()
            return respond(start_response, 403, body, content_type="text/plain; charset=utf-8")
        headers = [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Methods", environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD", "")),
            ("Access-Control-Max-Age", "600"),
            ("Vary", "Origin"),
        ]
        if environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS"):
            headers.append(("Access-Control-Allow-Headers", environ["HTTP_ACCESS_CONTROL_REQUEST_HEADERS"]))
        return respond(start_response, 200, b"", headers)
