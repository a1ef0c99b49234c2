"""CloudFront's edge cache: what a distribution keeps, for how long, and what an invalidation clears.

The emulator has one edge location, so one cache. Its rules are CloudFront's
(Amazon CloudFront Developer Guide, "Manage how long content stays in the
cache (expiration)", "Use managed cache policies", "How CloudFront processes
and caches HTTP 4xx and 5xx status codes from your origin", "What you need to
know when invalidating files"):

- a response is kept per distribution and cache key: the viewer's path, plus
  the query string when the cache behaviour puts query strings in the key
  (the managed ``CachingOptimized`` policy the tutorial uses does not);
- how long, from the behaviour's TTLs (its cache policy's, or the legacy
  ``MinTTL``/``DefaultTTL``/``MaxTTL``) and the origin's headers:
  ``Cache-Control: s-maxage`` before ``max-age`` before ``Expires``, held
  between the minimum and maximum TTL; without any of them the default TTL
  (never less than the minimum); ``no-store``, ``no-cache`` or ``private``
  are honoured only when the minimum TTL is 0, else the minimum TTL applies;
- origin errors: 404, 405, 414 and 500-504 are kept for the error caching
  minimum TTL (10 s unless a custom error response says otherwise), 400,
  403, 412 and 415 only when the origin sent ``max-age``/``s-maxage``;
- an entry past its TTL is revalidated with the origin (a conditional
  request): ``304 Not Modified`` makes it fresh again (``RefreshHit``);
- an invalidation path is matched case-sensitively against the cached paths;
  a ``*`` (only as its last character) matches any rest, so ``/*`` clears the
  whole distribution; API paths start with ``/``;
- when the cache is full, the least recently used entries go first (CloudFront
  evicts rarely requested objects before they expire).

Nothing here knows moto or WSGI: ``cloudfront_content`` asks and stores.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Callable, Iterable, Mapping
from urllib.parse import parse_qsl, unquote, urlencode


@dataclass(frozen=True)
class CachePolicy:
    """What a cache behaviour caches for how long: its TTLs (seconds) and the query strings in its cache key.

    ``query_strings``: ``"none"``, ``"all"``, or a tuple of the names that are included.
    """

    name: str
    min_ttl: int
    default_ttl: int
    max_ttl: int
    query_strings: str | tuple[str, ...] = "none"

    @property
    def caches(self) -> bool:
        """Whether anything is ever kept (``CachingDisabled``: all three TTLs 0)."""
        return self.max_ttl > 0 or self.min_ttl > 0


#: CloudFront's managed cache policies, by id ("Use managed cache policies").
MANAGED_CACHE_POLICIES: dict[str, CachePolicy] = {
    "658327ea-f89d-4fab-a63d-7e88639e58f6": CachePolicy("Managed-CachingOptimized", 1, 86400, 31536000),
    "b2884449-e4de-46a7-ac36-70bc7f1ddd6d": CachePolicy("Managed-CachingOptimizedForUncompressedObjects", 1, 86400, 31536000),
    "4135ea2d-6df8-44a3-9df3-4b5a84be39ad": CachePolicy("Managed-CachingDisabled", 0, 0, 0),
    "08627262-05a9-4f76-9ded-b50ca2e3a84f": CachePolicy("Managed-Elemental-MediaPackage", 0, 86400, 31536000,
                                                         ("aws.manifestfilter", "end", "m", "start")),
    "2e54312d-136d-493c-8eb9-b001f22f67d2": CachePolicy("Managed-Amplify", 2, 2, 600, "all"),
    "83da9c7e-98b4-4e11-a168-04f0df8e2c65": CachePolicy("Managed-UseOriginCacheControlHeaders", 0, 0, 31536000),
    "4cc15a8a-d715-48a4-82b8-cc0b614638fe": CachePolicy("Managed-UseOriginCacheControlHeaders-QueryStrings", 0, 0, 31536000, "all"),
}
#: Legacy cache settings' defaults when a behaviour leaves them out (the API's DefaultTTL and MaxTTL).
LEGACY_DEFAULT_TTL = 86400
LEGACY_MAX_TTL = 31536000
#: How long an origin error is kept unless a custom error response sets ``ErrorCachingMinTTL``.
ERROR_CACHING_MIN_TTL = 10
ALWAYS_CACHED_ERRORS = frozenset({404, 405, 414, 500, 501, 502, 503, 504})
CACHED_WITH_MAX_AGE = frozenset({400, 403, 412, 415})
#: The emulator's edge keeps at most this many bytes of bodies.
MAX_BYTES = 256 * 1024 * 1024
INVALID_PATHS = "Your request contains one or more invalid invalidation paths."

_DIRECTIVE = re.compile(r"\s*([A-Za-z-]+)\s*(?:=\s*\"?([^\",]*)\"?)?\s*(?:,|$)")


class InvalidInvalidation(ValueError):
    """An invalidation CloudFront refuses: ``code`` and ``message`` are AWS's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def cache_control(value: str | None) -> dict[str, str]:
    """``Cache-Control`` directives, lower-cased names to values ("" for flags)."""
    directives: dict[str, str] = {}
    for match in _DIRECTIVE.finditer(value or ""):
        name = match.group(1).lower()
        if name:
            directives.setdefault(name, (match.group(2) or "").strip())
    return directives


def _seconds(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def object_ttl(headers: Mapping[str, str], policy: CachePolicy, now: float) -> float:
    """Seconds CloudFront keeps a 200 from the origin, from the policy's TTLs and the origin's headers."""
    lowered = {k.lower(): v for k, v in headers.items()}
    directives = cache_control(lowered.get("cache-control"))
    if {"no-store", "no-cache", "private"} & directives.keys():
        return float(policy.min_ttl)  # 0: honoured; above 0: cached for the minimum TTL anyway
    asked: float | None = None
    if "s-maxage" in directives:
        asked = _seconds(directives["s-maxage"])
    if asked is None and "max-age" in directives:
        asked = _seconds(directives["max-age"])
    if asked is None and "expires" in lowered:
        try:
            asked = max(0.0, parsedate_to_datetime(lowered["expires"]).timestamp() - now)
        except (TypeError, ValueError):
            asked = 0.0  # an invalid date means "already expired" (RFC 9111)
    if asked is None:
        return float(max(policy.min_ttl, policy.default_ttl))
    return float(min(max(asked, policy.min_ttl), policy.max_ttl))


def error_ttl(status: int, headers: Mapping[str, str], error_min_ttl: int = ERROR_CACHING_MIN_TTL) -> float:
    """Seconds CloudFront keeps an origin error (0: not cached)."""
    directives = cache_control({k.lower(): v for k, v in headers.items()}.get("cache-control"))
    asked = _seconds(directives.get("s-maxage", "")) if "s-maxage" in directives else _seconds(directives.get("max-age", ""))
    if status in ALWAYS_CACHED_ERRORS:
        return float(max(error_min_ttl, asked or 0))
    if status in CACHED_WITH_MAX_AGE and asked is not None:
        return float(max(error_min_ttl, asked))
    return 0.0


def cache_key_query(query: str, policy: CachePolicy) -> str:
    """The part of a query string that is in the cache key (sorted, as CloudFront normalises it)."""
    if policy.query_strings == "none" or not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    if policy.query_strings != "all":
        pairs = [(k, v) for k, v in pairs if k in policy.query_strings]
    return urlencode(sorted(pairs))


def check_invalidation_paths(paths: Iterable[str]) -> list[str]:
    """The paths of an invalidation batch, or ``InvalidInvalidation`` as CloudFront's API answers."""
    checked = list(paths)
    if not checked:
        raise InvalidInvalidation("InvalidArgument", INVALID_PATHS)
    for path in checked:
        if not path.startswith("/") or "*" in path[:-1] or len(path) > 4000:
            raise InvalidInvalidation("InvalidArgument", INVALID_PATHS)
    return checked


def _normal(path: str) -> str:
    """Paths compare as the text they name: ``/a%20b.jpg`` and ``/a b.jpg`` are one object."""
    return unquote(path)


def invalidates(invalidation_path: str, cached_path: str) -> bool:
    """Whether one invalidation path clears an entry cached under ``cached_path`` (path, ``?query`` when keyed)."""
    wanted, cached = _normal(invalidation_path), _normal(cached_path)
    if wanted.endswith("*"):
        return cached.startswith(wanted[:-1])
    return cached == wanted


@dataclass
class Entry:
    """One cached response: what the viewer gets, and when it stops being fresh."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    content_type: str
    stored_at: float
    ttl: float
    #: the paths an invalidation matches: the viewer's (with the keyed query), and the default root object's for "/"
    paths: tuple[str, ...] = ()
    hits: int = field(default=0)

    def age(self, now: float) -> int:
        return max(0, int(now - self.stored_at))

    def fresh(self, now: float) -> bool:
        return now - self.stored_at < self.ttl

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(k) + len(v) for k, v in self.headers)


Key = tuple[str, str]  # (distribution id, path with the keyed query)


class EdgeCache:
    """The emulator's one edge location: entries per distribution, LRU within ``max_bytes``, thread-safe.

    ``clock`` gives seconds (wall clock: ``Expires`` is a date); tests pass their own.
    """

    def __init__(self, clock: Callable[[], float] = time.time, max_bytes: int = MAX_BYTES) -> None:
        self.clock = clock
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = self.refresh_hits = self.invalidated = 0

    def get(self, key: Key) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: Key, entry: Entry) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            if entry.size > self.max_bytes:
                return
            self._entries[key] = entry
            self._bytes += entry.size
            while self._bytes > self.max_bytes and self._entries:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.size

    def refresh(self, key: Key, entry: Entry, ttl: float) -> None:
        """A 304 from the origin: the entry is fresh again, from now."""
        with self._lock:
            entry.stored_at, entry.ttl = self.clock(), ttl

    def invalidate(self, distribution_id: str, paths: Iterable[str]) -> int:
        """Remove the distribution's entries any path matches; returns how many went."""
        paths = list(paths)
        with self._lock:
            gone = [key for key, entry in self._entries.items()
                    if key[0] == distribution_id and any(invalidates(p, cached) for p in paths for cached in entry.paths)]
            for key in gone:
                self._bytes -= self._entries.pop(key).size
            self.invalidated += len(gone)
        return len(gone)

    def clear(self, distribution_id: str | None = None) -> None:
        """Forget a distribution's entries (deleted), or everything (the emulator was reset)."""
        with self._lock:
            for key in [k for k in self._entries if distribution_id is None or k[0] == distribution_id]:
                self._bytes -= self._entries.pop(key).size

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"entries": len(self._entries), "bytes": self._bytes, "hits": self.hits, "misses": self.misses,
                    "refresh_hits": self.refresh_hits, "invalidated": self.invalidated}
