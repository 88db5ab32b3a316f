"""The metadata tells the truth: the Python floor is what the code needs (checked by vermin, which reads the syntax,
the standard-library names and the annotations that are evaluated at run time)."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import REPO


def test_requires_python_is_the_floor_the_code_needs():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    vermin = Path(sys.executable).with_name("vermin")
    out = subprocess.run([str(vermin), "--eval-annotations", "--no-tips", "--no-parse-comments",
                          str(REPO / "tanas_nni")], capture_output=True, text=True, timeout=300).stdout
    needed = re.search(r"Minimum required versions: ([\d.]+)", out).group(1)
    assert declared == f">={needed}", (declared, out)
