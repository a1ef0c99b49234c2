"""Run the numbered notebooks in order with papermill, as a batch or as a test.

A failure stops the run and names the notebook, the cell and the reason in one
line; the executed copies (with outputs, and the error marked) are in the
output folder for a closer look.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from walkthrough import diagnose
from walkthrough.config import chosen_target
from walkthrough.emulator import lifecycle
from walkthrough.errors import WalkthroughError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CLEANUP = "99_cleanup"
_NUMBERED = re.compile(r"^(\d\d)_.+\.ipynb$")


def numbered_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The tutorial's notebooks in tutorial order (zero-padded names sort correctly)."""
    return sorted(p for p in folder.glob("*.ipynb") if _NUMBERED.match(p.name))


def select(notebooks: list[Path], start: str | None = None, end: str | None = None, cleanup: bool = False) -> list[Path]:
    """The notebooks from ``start`` to ``end`` (two-digit numbers, inclusive); cleanup only when asked."""
    chosen = []
    for notebook in notebooks:
        number = notebook.name[:2]
        if notebook.stem == CLEANUP and not cleanup:
            continue
        if (start and number < start.zfill(2)) or (end and number > end.zfill(2)):
            continue
        chosen.append(notebook)
    if not chosen:
        raise WalkthroughError(f"No notebook matches --from {start} --to {end}; they are: {', '.join(n.stem for n in notebooks)}.")
    return chosen


def run_notebooks(
    notebooks: list[Path], parameters: dict[str, Any], output_dir: Path, progress: bool = True, kernel: str = "python3"
) -> list[dict[str, Any]]:
    """Execute each notebook with papermill; stop at the first failure with a one-line error."""
    import papermill
    from papermill.exceptions import PapermillExecutionError
    from tqdm.auto import tqdm

    output_dir.mkdir(parents=True, exist_ok=True)
    # papermill rewrites the whole executed notebook as each cell starts and ends (09: 140 writes of a
    # notebook of images, each serialised and validated: a third of the CPU papermill's side of a run
    # takes). Worth it on AWS, where a cell can wait minutes for CloudFront and the file shows how far
    # the run got; on the emulator a notebook takes seconds, and papermill still writes the notebook
    # when a cell fails, and at the end.
    save_each_cell = chosen_target(parameters.get("target")) != "local"
    rows = []
    bar = tqdm(notebooks, desc="notebooks", unit="nb", disable=not progress)
    for notebook in bar:
        bar.set_postfix_str(notebook.stem)
        output = output_dir / notebook.name
        started = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(notebook), str(output), parameters=parameters, cwd=str(notebook.parent),
                kernel_name=kernel, progress_bar=False, log_output=False, request_save_on_cell_execute=save_each_cell,
            )
        except PapermillExecutionError as exc:
            raise diagnose.notebook_failure(notebook, output, exc) from None
        rows.append({"notebook": notebook.stem, "seconds": round(time.perf_counter() - started, 1), "output": str(output)})
    return rows


def refresh_committed(folder: Path = NOTEBOOKS) -> list[dict[str, Any]]:
    """Re-execute the committed notebooks in place on a fresh, private emulator (``make notebooks``).

    A fresh emulator makes the outputs the ones a new reader gets, and the ones
    nbval (which also starts from an empty emulator) compares against.
    """
    port = lifecycle.free_port()
    lifecycle.start(port)
    previous = os.environ.get("WALKTHROUGH_EMULATOR_PORT")
    os.environ["WALKTHROUGH_EMULATOR_PORT"] = str(port)
    try:
        notebooks = numbered_notebooks(folder)
        rows = []
        for notebook in notebooks:  # in place: output path = input path
            rows += run_notebooks([notebook], {}, notebook.parent, progress=False)
            print(f"  {notebook.stem:<22} {rows[-1]['seconds']:>6.1f} s", flush=True)
        return rows
    finally:
        lifecycle.stop(port)
        if previous is None:
            os.environ.pop("WALKTHROUGH_EMULATOR_PORT", None)
        else:
            os.environ["WALKTHROUGH_EMULATOR_PORT"] = previous


if __name__ == "__main__":
    refresh_committed()
