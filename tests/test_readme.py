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


def results_block(text):
    """The results table's rows and the bars' verdicts below it."""
    block = text.split('| model | seeds | WGA |', 1)[1].split('\n\n\n')[0]
    block = re.split(r'\n(?:How to read it|`docs/demo.md` explains)', block)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_results_are_docs_demo_results():
    # docs/demo.md holds the measured table; the README shows the same rows
    # and verdicts, character for character.
    readme = results_block((ROOT / 'README.md').read_text())
    assert len(readme) >= 8
    assert readme == results_block((ROOT / 'docs' / 'demo.md').read_text())
