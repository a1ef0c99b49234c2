"""Checks on nbval's run of the committed notebooks, made while that run goes on.

nbval (``make test`` collects ``notebooks/``) executes 00–10 and then 99, in
order, on a new emulator of their own, with the parameters the committed
outputs were made with: target local, us-east-1, origin access control. That
is the walkthrough's main sequence; instead of executing it a second time with
papermill, these checks read the state it leaves. Each is marked with the
notebook it follows: the root conftest moves it to just after that notebook's
last cell, and keeps it in the unit of work of the worker that runs the
notebooks. Alone (without ``notebooks/`` collected) they are skipped, saying so.
"""

from __future__ import annotations

import pytest

from tests.sequence_checks import assert_pipeline_built
from walkthrough import Settings, teardown

pytestmark = [pytest.mark.emulator]


@pytest.mark.after_notebook("00_setup")
def test_00_creates_nothing_so_01_too_starts_on_an_empty_emulator(committed_notebooks: Settings):
    assert teardown.remaining(committed_notebooks) == []


@pytest.mark.after_notebook("10_pipeline_as_code")
def test_00_to_10_build_the_pipeline_and_serve_the_photo_through_cloudfront_only(committed_notebooks: Settings):
    assert_pipeline_built(committed_notebooks, "oac")


@pytest.mark.after_notebook("99_cleanup")
def test_99_removes_everything(committed_notebooks: Settings):
    assert teardown.remaining(committed_notebooks) == []
