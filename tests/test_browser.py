"""The notebooks as a learner sees them: JupyterLab in headless Chromium, Run All, then Restart and Run All.

nbval compares text; this looks at the page. JupyterLab runs on a private port
with an emulator of its own (a copy of the notebooks, so nothing it saves
touches the committed ones), and Chromium opens 07 first, as a new user did,
then 00 and 03. In each, as opened (the committed outputs), after Run All and
after Restart and Run All: no error output, no failed (red) progress bar and
no bar left unfinished, no output wider than its area; the architecture drawn
at the output's width with its labels clear of the boxes; the photos and the
CloudFront address visible; the policy alone, ready to paste. A screenshot of
each notebook as it ends goes to ``build/browser/``.

``make test-browser`` runs it (``WALKTHROUGH_TEST_BROWSER=1``), and skips it
with the reason when Chromium or chromedriver is missing; ``make test`` leaves
it to that target (one line), as it leaves the offline bundle to
``make test-offline``: it takes a minute or two, and the suite's budget is
three. ``.ci/run`` runs both targets after the suite.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.jupyterlab_browser import JupyterLab, Lab, find_browser

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "build" / "browser"
#: 07 first: a new user's first notebook, which builds steps 1-6 itself.
NOTEBOOKS = ("07_testing_pipeline.ipynb", "00_setup.ipynb", "03_iam_role.ipynb")

BROWSER, WHY_NOT = find_browser()
# Marks, not a skip of the module: a run whose only test is skipped then ends "1 skipped" with status 0,
# where a module skipped whole collects nothing and pytest exits 5 (make test-browser on a machine without a browser).
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("WALKTHROUGH_TEST_BROWSER") != "1",
                       reason="the notebooks in a browser are tested by make test-browser"),
    pytest.mark.skipif(BROWSER is None, reason=WHY_NOT),
]


def _where(entry: dict) -> str:
    source = entry.get("source", "").strip().splitlines()
    return f"cell {entry['cell']} ({source[-1][:70] if source else ''})"


def _common_problems(look: dict) -> list[str]:
    """What would be wrong in any notebook, in any state."""
    problems = [f"error output in {_where(e)}: {e['text'].strip()[:300]}" for e in look["errors"]]
    problems += [f"failed (red) progress bar in {_where(w)}: {w['text']!r}" for w in look["failed_widgets"]]
    problems += [f"widget not drawn in {_where(w)}: {w['text']!r}" for w in look["unrendered_widgets"]]
    problems += [f"progress bar left unfinished in {_where(b)}: {b['text']!r}" for b in look["unfinished_text_bars"]]
    problems += [f"output wider than its area in {_where(o)}: a <{o['element']}> of {o['scrollWidth']} px in {o['clientWidth']} px,"
                 f" its right edge at {o['right']:.0f} px, the area's at {o['area']:.0f} px" for o in look["overflowing"]]
    problems += [f"image not shown in cell {i['cell']}: {i}" for i in look["images"]
                 if not (i["loaded"] and i["width"] > 0 and i["inside"])]
    return problems


def _cell_output(look: dict, kind: str, marker: str) -> list[dict]:
    return [entry for entry in look[kind] if marker in entry.get("source", "")]


def _problems_00(look: dict, ran: bool) -> list[str]:
    diagram = look["diagram"]
    if diagram is None:
        return ["the architecture diagram is not drawn"]
    problems = []
    if not diagram["loaded"]:
        problems.append("the architecture diagram did not load")
    if diagram["width"] > diagram["output_width"] + 1:
        problems.append(f"the diagram is wider ({diagram['width']:.0f} px) than its output ({diagram['output_width']:.0f} px)")
    if not diagram["viewBox"]:
        problems.append("the diagram has no viewBox (it cannot scale to the output)")
    for name, what in (("labels_on_boxes", "arrow labels run into boxes"), ("labels_overlapping", "arrow labels overlap"),
                       ("names_outside_boxes", "box names spill out of their boxes"), ("outside_view", "text is cut off")):
        if diagram[name]:
            problems.append(f"diagram: {what}: {diagram[name]}")
    components = {row[0] for table in _cell_output(look, "tables", "check_environment") for row in table["rows"]}
    missing = {"jupyterlab", "ipywidgets"} - components
    if missing:
        problems.append(f"the environment table leaves out {sorted(missing)}")
    return problems


def _problems_03(look: dict, ran: bool) -> list[str]:
    problems = []
    pasted = []
    for shown in _cell_output(look, "documents", "show.documents"):  # what a learner copies from the page
        try:
            pasted.append(json.loads(shown["text"]))
        except ValueError as error:
            problems.append(f"a permission policy does not paste as JSON ({error}): {shown['text'][:80]!r}")
    if not any(isinstance(p, dict) and {"Version", "Statement"} <= set(p) for p in pasted):
        problems.append(f"no permission policy shown alone, as a policy (Version, Statement): {pasted}")
    changes = [row[1] for table in _cell_output(look, "tables", "iam.create_role") for row in table["rows"] if row[0] == "changes"]
    if not changes or any(value.startswith("[") or not value for value in changes):
        problems.append(f"the role's changes are not listed in words: {changes}")
    return problems


def _problems_07(look: dict, ran: bool) -> list[str]:
    problems = []
    if len(look["images"]) < 3:
        problems.append(f"{len(look['images'])} images shown, 3 expected (original, processed, through CloudFront)")
    addresses = [a for a in look["links"] if "/cloudfront/" in a["href"]]
    if not any(a["text"] == a["href"] and a["width"] > 0 and a["inside"] for a in addresses):
        problems.append(f"the CloudFront address is not shown as readable text: {addresses}")
    logs = _cell_output(look, "tables", 'key="photo.jpg"')
    if not logs or not logs[0]["caption"].startswith("Invocation "):
        problems.append(f"the log of photo.jpg is not one invocation's: {[t['caption'] for t in logs]}")
    if ran:
        bars = look["progress"]
        finished = [b for b in bars if "progress-bar-success" in b["styles"]]
        if len(bars) != 2 or len(finished) != 2:
            problems.append(f"expected the wait and the batch bars, finished green: {[(b['styles'], b['text']) for b in bars]}")
    return problems


CHECKS = {"00_setup.ipynb": _problems_00, "03_iam_role.ipynb": _problems_03, "07_testing_pipeline.ipynb": _problems_07}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    from tests.emulator_helpers import start_emulator
    from walkthrough.emulator import lifecycle

    emulator = start_emulator()
    workdir = tmp_path_factory.mktemp("jupyterlab")
    server = JupyterLab(ROOT / "notebooks", workdir, {**os.environ, "WALKTHROUGH_EMULATOR_PORT": str(emulator.port)})
    browser = None
    try:
        browser = Lab(BROWSER, server, workdir / "chromium-profile")
        yield browser
    finally:
        if browser is not None:
            browser.quit()
        server.stop()
        lifecycle.stop(emulator.port)


def test_the_notebooks_look_right_in_jupyterlab(lab):
    started = time.monotonic()
    problems: list[str] = []
    for name in NOTEBOOKS:
        lab.open(name)
        stages = [("as opened", lab.look(), False)]
        lab.screenshot(SCREENSHOTS / name.replace(".ipynb", ".opened.png"))
        for stage, run in (("after Run All", lab.run_all), ("after Restart and Run All", lab.restart_and_run_all)):
            outcome = run()
            if outcome is not True:
                problems.append(f"{name}, {stage}: the run stopped ({outcome})")
            stages.append((stage, lab.look(), True))
        lab.screenshot(SCREENSHOTS / name.replace(".ipynb", ".png"))
        for stage, look, ran in stages:
            problems += [f"{name}, {stage}: {p}" for p in _common_problems(look) + CHECKS[name](look, ran)]
        lab.close()
    print(f"browser test: {len(NOTEBOOKS)} notebooks, {time.monotonic() - started:.0f} s; screenshots in {SCREENSHOTS}")
    assert not problems, "\n".join(problems)
