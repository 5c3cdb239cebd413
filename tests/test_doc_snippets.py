"""The README's training-control snippet repeats itself when rerun.

The block is read from README.md itself and run twice at full size in a fresh
folder: the rerun resumes from its checkpoint and must give the same model.
"""

import re
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(document):
    """The fenced ```python blocks of a Markdown file, in order."""
    text = (ROOT / document).read_text()
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)


def run_blocks(blocks, namespace):
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"<block {i + 1}>", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"block {i + 1} failed:\n{block}") from exc
    return namespace


@pytest.fixture
def in_tmp_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_readme_training_control_snippet_repeats_itself_when_rerun(in_tmp_folder):
    (block,) = [b for b in python_blocks("README.md") if "LoadInitState(cp)" in b]
    first = run_blocks([block], {})
    again = run_blocks([block], {})  # resumes from run1/, the checkpoint the first left
    assert (in_tmp_folder / "run1" / "params.pt").exists()
    X = first["X"] / 16
    assert again["clf"].n_iter_ == first["clf"].n_iter_ < 50  # it stopped early
    assert again["clf"].best_validation_score_ == first["clf"].best_validation_score_
    assert_array_equal(again["clf"].predict_proba(X), first["clf"].predict_proba(X))
    assert np.array_equal(again["clf"].predict(X), first["clf"].predict(X))
