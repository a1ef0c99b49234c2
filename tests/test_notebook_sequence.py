"""The notebooks run by papermill as a batch user runs them, then checked through boto3.

Each notebook configuration runs once in the suite:

- nbval runs the committed notebooks, 00–10 then 99, with their own parameters
  (local, us-east-1, origin access control) on a new emulator, and
  tests/test_committed_notebooks.py checks the state that run leaves: that is
  the main sequence, and 00 and 01 opened first on an empty emulator;
- here, the other CloudFront access variant (an origin access identity) in a
  region other than us-east-1 (bucket creation needs a LocationConstraint
  there). The variant is a parameter of 06 onwards only, so this run starts at
  06 on an empty emulator (it is also 06 opened first), and it stops at 08:
  09 reads the variant only to rebuild what is missing, so 09 opened first
  with OAI covers it, and 10 does not read it. Two tests keep both true;
- then each other notebook opened first, on an empty emulator, as a workshop
  attendee who joins late opens it.
"""

from __future__ import annotations

import ast
import json

import nbformat

import pytest

from tests.emulator_helpers import reset
from tests.sequence_checks import assert_pipeline_built
from walkthrough import Settings, aws, mistakes, runner, teardown
from walkthrough.errors import WalkthroughError

pytestmark = [pytest.mark.emulator, pytest.mark.slow]
REGION = "eu-west-1"


@pytest.fixture
def kernels_use(fresh_emulator, monkeypatch):
    monkeypatch.setenv("WALKTHROUGH_EMULATOR_PORT", str(fresh_emulator.port))
    return Settings.from_env(region=REGION, emulator_port=fresh_emulator.port)


#: The first notebook that reads the ``access`` parameter (the CloudFront step).
FIRST_WITH_ACCESS = "06"


def _names_in_code_of(source: str) -> set[str]:
    return {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}


def _names_in_code(notebook) -> set[str]:
    names = set()
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "code":
            names |= _names_in_code_of(cell.source)
    return names


def test_only_notebooks_from_06_read_the_access_variant():
    """What lets the OAI run start at 06: before it, no notebook's code names ``access``."""
    readers = [n.stem for n in runner.numbered_notebooks() if "access" in _names_in_code(n)]
    assert readers and min(readers)[:2] == FIRST_WITH_ACCESS, readers


#: The last notebook of the OAI run: 09 reads the access variant only to rebuild what is missing
#: (it runs opened first, with OAI, below) and 10 does not read it (nbval's run has both in sequence).
LAST_WITH_OAI = "08"


def test_the_oai_sequence_from_06_in_another_region_builds_the_pipeline_then_cleanup_removes_it(kernels_use, fresh_emulator, tmp_path):
    """06 to 08 with an origin access identity, 06 opened first on an empty emulator in eu-west-1, then 99."""
    settings = kernels_use
    reset(fresh_emulator.endpoint)
    notebooks = runner.select(runner.numbered_notebooks(), FIRST_WITH_ACCESS, LAST_WITH_OAI)
    rows = runner.run_notebooks(notebooks, {"target": "local", "region": REGION, "access": "oai"}, tmp_path, progress=False)
    assert [r["notebook"] for r in rows] == ["06_cloudfront", "07_testing_pipeline", "08_api_gateway"]
    assert_pipeline_built(settings, "oai")

    runner.run_notebooks(runner.select(runner.numbered_notebooks(), "99", "99", cleanup=True), {"region": REGION}, tmp_path, progress=False)
    assert teardown.remaining(settings) == []


def test_09_and_10_read_the_access_variant_only_to_rebuild_what_is_missing():
    """What lets the OAI run stop at 08: after it, ``access`` only reaches ``sequence.ensure_before``."""
    for notebook in runner.numbered_notebooks():
        if notebook.name[:2] > LAST_WITH_OAI and notebook.name[:2] != "99":
            cells = [c.source for c in nbformat.read(notebook, as_version=4).cells
                     if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]
            readers = [c for c in cells if "access" in _names_in_code_of(c)]
            assert all(c.strip().startswith("sequence.ensure_before(") for c in readers), (notebook.stem, readers)


def test_a_failing_step_names_the_notebook_the_cell_and_the_reason(kernels_use, tmp_path):
    notebooks = runner.select(runner.numbered_notebooks(), "01", "01")
    with pytest.raises(WalkthroughError) as failure:
        runner.run_notebooks(notebooks, {"target": "gcp"}, tmp_path, progress=False)
    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith("01_s3_buckets, cell ") and "Unknown target 'gcp'" in message


# nbval's run starts with 00 and 01 on an empty emulator, and the OAI run above with 06.
@pytest.mark.parametrize("notebook", [n.stem for n in runner.numbered_notebooks() if n.name[:2] not in ("00", "01", FIRST_WITH_ACCESS)])
def test_each_notebook_runs_on_its_own_from_an_empty_emulator(notebook, kernels_use, fresh_emulator, tmp_path):
    """A workshop attendee who joins late opens this notebook first: it still runs top to bottom.

    09 runs with the OAI variant (nbval's run has it with OAC): it rebuilds the pipeline with an
    origin access identity, makes its mistakes on it and puts back that bucket policy.
    """
    reset(fresh_emulator.endpoint)
    chosen = [n for n in runner.numbered_notebooks() if n.stem == notebook]
    parameters = {"region": REGION, **({"access": "oai"} if notebook == "09_when_it_goes_wrong" else {})}
    rows = runner.run_notebooks(chosen, parameters, tmp_path, progress=False)
    assert rows[0]["notebook"] == notebook
    if notebook == "09_when_it_goes_wrong":
        assert mistakes.leftovers(kernels_use) == []
        policy = json.loads(aws.client(kernels_use, "s3").get_bucket_policy(Bucket=kernels_use.processed_bucket)["Policy"])
        assert policy["Statement"][0]["Principal"]["AWS"].startswith("arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity ")
