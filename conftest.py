"""Root pytest configuration: the notebooks checked by nbval get an emulator of their own.

nbval runs each committed notebook in a fresh kernel that inherits this
process's environment. ``make notebooks`` made the committed outputs by running
every notebook in order on one new emulator (``runner.refresh_committed``), so
nbval does the same: before the first notebook's kernel starts, a new emulator
starts on a free port and ``WALKTHROUGH_EMULATOR_PORT`` points the kernels at
it; the notebooks then build on each other's state, as they did then, and never
touch an emulator the user has running. The variable is set only while a
notebook item runs, so no other test meets that emulator.

Under pytest-xdist (``make test``: ``-n … --dist loadgroup``) all notebook
items are one group: one worker runs them, in order, on its one emulator, and
only that worker starts it. The grouping is done here, by a scheduler that
reads node ids, and not with ``xdist_group`` marks: with pytest 9.2 xdist 3.8
silently ignores those marks (pytest-dev/pytest-xdist#1386). Other tests are
scheduled one by one, ``slow``-marked ones first, so that no long test starts
last.
"""

from __future__ import annotations

import os

import pytest

NBVAL_GROUP = "nbval"
_PORT = "WALKTHROUGH_EMULATOR_PORT"
_started: list[int] = []


def _is_notebook(item: pytest.Item) -> bool:
    return item.nodeid.endswith(".ipynb") or ".ipynb::" in item.nodeid


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):  # every worker sorts alike; a serial run keeps the usual order
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: unknown without it
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist load`` or ``loadgroup``: the notebooks as one unit of work, every other test on its own."""
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class NotebooksTogether(LoadScopeScheduling):
        """Units of work: all nbval items (largest unit, so it is handed out first), then one per test."""

        def _split_scope(self, nodeid: str) -> str:
            return NBVAL_GROUP if ".ipynb::" in nodeid else nodeid

    return NotebooksTogether(config, log)


def _nbval_port() -> int:
    if not _started:
        from tests.emulator_helpers import start_emulator

        _started.append(start_emulator().port)
    return _started[0]


@pytest.hookimpl(tryfirst=True)  # before nbval's file setup starts the notebook's kernel
def pytest_runtest_setup(item: pytest.Item) -> None:
    if _is_notebook(item):
        os.environ[_PORT] = str(_nbval_port())  # a failed start is this item's setup error


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """The port is the notebooks' only: restored after each notebook item, so no other test meets their emulator."""
    previous = os.environ.get(_PORT)
    try:
        yield
    finally:
        if _is_notebook(item):
            if previous is None:
                os.environ.pop(_PORT, None)
            else:
                os.environ[_PORT] = previous


def pytest_unconfigure(config: pytest.Config) -> None:
    from walkthrough.emulator import lifecycle

    for port in _started:
        lifecycle.stop(port)
