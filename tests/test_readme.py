# Copyright (c) ifam_mm contributors. All rights reserved.
"""README's Quick start and CI must not drift apart."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands():
    readme = (ROOT / 'README.md').read_text()
    section = readme.split('## Quick start', 1)[1]
    block = re.search(r'```bash\n(.*?)```', section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_quick_start_has_exactly_two_commands():
    assert len(quick_start_commands()) == 2


def test_ci_runs_the_readme_test_command():
    test_command = quick_start_commands()[1]
    ci_lines = (ROOT / '.ci' / 'run').read_text().splitlines()
    assert test_command in ci_lines
