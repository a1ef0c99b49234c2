"""pyproject.toml and environment.yml describe the same environment."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _requirement(text: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$", text)
    assert match, text
    return match.group(1).lower().replace("_", "-"), match.group(3).replace(" ", "")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = dict(_requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"])
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = dict(_requirement(d) for d in environment["dependencies"] if isinstance(d, str) and not d.startswith(("python=", "pip")))
    assert conda == wanted, "environment.yml and pyproject.toml disagree; update both"
    assert "conda-forge" in environment["channels"]
    assert "python=3.12" in environment["dependencies"]
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert any(".[test]" in line for line in pip_section), "environment.yml must install this package"
