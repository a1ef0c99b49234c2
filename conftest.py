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

The sequence of committed notebooks is also the walkthrough's main sequence, so
it is checked while nbval runs it rather than executed again: a test marked
``after_notebook("10_pipeline_as_code")`` (tests/test_committed_notebooks.py)
is moved to just after that notebook's last cell, in the same unit of work, and
its ``committed_notebooks`` fixture gives the settings those notebooks ran with.
"""

from __future__ import annotations

import os

import pytest

NBVAL_GROUP = "nbval"
#: Tests that read the state nbval's run leaves (``after_notebook``-marked): part of its unit of work.
CHECKS_OF_THE_RUN = "tests/test_committed_notebooks.py"
_PORT = "WALKTHROUGH_EMULATOR_PORT"
_started: list[int] = []
_collected_notebooks: set[str] = set()


def _is_notebook(item: pytest.Item) -> bool:
    return item.nodeid.endswith(".ipynb") or ".ipynb::" in item.nodeid


def _notebook_stem(item: pytest.Item) -> str:
    return item.nodeid.split(".ipynb", 1)[0].rsplit("/", 1)[-1]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "after_notebook(stem): runs right after that committed notebook, on nbval's emulator")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):  # every worker sorts alike; a serial run keeps the usual order
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    _collected_notebooks.update(_notebook_stem(item) for item in items if _is_notebook(item))
    for check in [item for item in items if item.get_closest_marker("after_notebook")]:
        stem = check.get_closest_marker("after_notebook").args[0]
        items.remove(check)
        cells = [i for i, item in enumerate(items) if _is_notebook(item) and _notebook_stem(item) == stem]
        items.insert(cells[-1] + 1 if cells else len(items), check)  # without the notebook it is skipped, last


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: unknown without it
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist load`` or ``loadgroup``: the notebooks as one unit of work, every other test on its own."""
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class NotebooksTogether(LoadScopeScheduling):
        """Units of work: all nbval items (largest unit, so it is handed out first), then one per test."""

        def _split_scope(self, nodeid: str) -> str:
            return NBVAL_GROUP if ".ipynb::" in nodeid or nodeid.startswith(CHECKS_OF_THE_RUN + "::") else nodeid

    return NotebooksTogether(config, log)


def _nbval_port() -> int:
    if not _started:
        from tests.emulator_helpers import start_emulator

        _started.append(start_emulator().port)
    return _started[0]


@pytest.fixture
def committed_notebooks(request: pytest.FixtureRequest):
    """The settings nbval's kernels ran the committed notebooks with, on their emulator; skipped when they did not run."""
    stem = request.node.get_closest_marker("after_notebook").args[0]
    if stem not in _collected_notebooks or not _started:
        pytest.skip(f"reads the state nbval's run of notebooks/{stem}.ipynb leaves: run it with the notebooks "
                    f"(pytest notebooks {CHECKS_OF_THE_RUN})")
    from walkthrough import Settings

    return Settings.from_env(target="local", region="us-east-1", emulator_port=_started[0])


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
