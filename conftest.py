"""Root pytest configuration: the notebooks checked by nbval get an emulator of their own.

nbval runs each committed notebook in a fresh kernel that inherits this
process's environment. Before the first notebook runs, a new emulator starts on
a free port and ``WALKTHROUGH_EMULATOR_PORT`` points the kernels at it, so the
run starts from an empty state (as the committed outputs did) and never
touches an emulator the user has running.
"""

from __future__ import annotations

import os

import pytest

_started: list[int] = []


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any(item.nodeid.endswith(".ipynb") or ".ipynb::" in item.nodeid for item in items):
        return
    from walkthrough.emulator import lifecycle

    port = lifecycle.free_port()
    lifecycle.start(port)
    _started.append(port)
    os.environ["WALKTHROUGH_EMULATOR_PORT"] = str(port)


def pytest_unconfigure(config: pytest.Config) -> None:
    from walkthrough.emulator import lifecycle

    for port in _started:
        lifecycle.stop(port)
