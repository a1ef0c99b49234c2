"""The one gate in front of everything that creates a resource on a real AWS account.

Every AWS call of the walkthrough goes through a client from ``aws.client``,
and on target ``aws`` those clients call ``require_confirmation`` before any
operation that creates something (``Create*``, ``Publish*``): the buckets,
the table, the role, the function and its layer, the distribution, the API.
Reads, updates of what exists and deletions pass freely, so looking around
and tearing down never ask.

The gate opens when:

- the settings carry ``confirmed=True`` (the notebook parameter
  ``confirm = True``, or ``--yes`` on ``python -m walkthrough run``), or
- this process already confirmed the same region and run, or
- the user answers "yes" to the one question asked in an interactive session
  (a terminal, or a Jupyter kernel that can prompt).

Otherwise (papermill, CI, a script without a terminal) it raises one
``WalkthroughError`` naming the fix, before the first resource exists.
The local emulator never asks: nothing there costs anything.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

from walkthrough.config import Settings
from walkthrough.errors import WalkthroughError

#: Operation-name prefixes that create a billable or lasting resource.
CREATING_PREFIXES = ("Create", "Publish")
#: Named "Create…" but part of using what exists (an upload in parts, a session token, clearing
#: CloudFront's cache: nothing remains, and the first 1,000 paths a month are free).
NOT_CREATING = frozenset({"CreateMultipartUpload", "CreateSession", "CreateInvalidation"})

#: (region, endpoint, run name) already confirmed in this process (a kernel session, a CLI run).
_CONFIRMED: set[tuple[str, str | None, str]] = set()


def is_creating(operation_name: str) -> bool:
    """Whether an API operation (``CreateBucket``, ``PublishLayerVersion`` …) creates something."""
    return operation_name.startswith(CREATING_PREFIXES) and operation_name not in NOT_CREATING


def _key(settings: Settings) -> tuple[str, str | None, str]:
    return (settings.region, settings.endpoint_url, settings.run_name)


def _ask(question: str, prompt: Callable[[str], str] | None = None) -> bool | None:
    """The user's yes/no, or None when nobody can be asked (no terminal, a kernel without stdin)."""
    if prompt is None:
        if not _interactive():
            return None
        prompt = input
    try:
        answer = prompt(question)
    except (EOFError, OSError, RuntimeError):
        return None
    except Exception as exc:  # noqa: BLE001 - IPython's StdinNotImplementedError (papermill kernels)
        if type(exc).__name__ == "StdinNotImplementedError":
            return None
        raise
    return answer.strip().lower() in ("y", "yes")


def _interactive() -> bool:
    """A terminal, or a Jupyter kernel (which may still refuse stdin: then ``_ask`` gets None)."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        return True
    try:
        return bool(sys.stdin) and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def require_confirmation(
    settings: Settings, confirm: bool = False, prompt: Callable[[str], str] | None = None, where: Callable[[], str] | None = None
) -> str:
    """Return quietly when creating on this target is allowed; ask once if possible; else refuse.

    Returns why it is allowed ("local emulator", "confirmed", "confirmed earlier",
    "confirmed by the user"); raises ``WalkthroughError`` otherwise. ``where()``
    names the account and region for the question (``aws.py`` knows the account).
    """
    if settings.is_local:
        return "local emulator"
    key = _key(settings)
    if confirm or settings.confirmed:
        _CONFIRMED.add(key)
        return "confirmed"
    if key in _CONFIRMED:
        return "confirmed earlier"
    place = where() if where else f"AWS in {settings.region}"
    answer = _ask(f"Create the walkthrough's resources in {place}? They cost a few cents until "
                  "`python -m walkthrough down --target aws` removes them. [y/N] ", prompt)
    if answer:
        _CONFIRMED.add(key)
        return "confirmed by the user"
    if answer is None:
        raise WalkthroughError(
            f"Nothing was created: creating resources in {place} needs confirmation; set the notebook "
            "parameter confirm = True (or pass --yes to `python -m walkthrough run --target aws`)."
        )
    raise WalkthroughError(f"Nothing was created in {place}: you did not confirm.")


def gate_creating_calls(settings: Settings, client: Any, where: Callable[[], str] | None = None) -> None:
    """Make ``client`` call ``require_confirmation`` before every operation that creates something."""

    def before_call(model: Any, **_: Any) -> None:
        if is_creating(model.name):
            require_confirmation(settings, where=where)

    client.meta.events.register("before-call.*.*", before_call, unique_id="walkthrough-confirmation-gate")


def forget() -> None:
    """Forget every confirmation of this process (tests, or to be asked again)."""
    _CONFIRMED.clear()
