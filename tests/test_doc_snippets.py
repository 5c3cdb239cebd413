"""Every python snippet of README.md and docs/user_guide.md runs as written.

The fenced ```python blocks are read from the documents themselves, so a
snippet cannot drift from what is tested. The blocks of a document run in
order in one namespace, as a reader pasting them one after another would
(a later block may use what an earlier one made), in a fresh folder, on the
CPU. What only makes them slow is shrunk by the substitutions listed below;
each must still find its text in the document, so that a change to a
snippet is noticed here rather than silently tested at full size or not at
all.

The README's training-control snippet is also run twice at full size: the
rerun resumes from its checkpoint and must give the same model.
"""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_array_equal

ROOT = Path(__file__).resolve().parents[1]

#: Omniglot's small1 cut to its first 30 characters (the fits embed every image)
FEW = r'_first_30(*load_omniglot("small1", return_X_y=True))'


def _first_30(X, y):
    keep = y < 30
    return X[keep], y[keep]


#: (pattern, replacement): regular expressions, applied to every block of the
#: document; each must match at least once
SHRINK = {
    "README.md": [
        (r'load_omniglot\("small1", return_X_y=True\)', FEW),
        # ProtoNet on small1 and its episodes
        (r"max_iter=300\)\.fit\(X, y\)", "max_iter=3).fit(X, y)"),
        (r"n_episodes=600", "n_episodes=20"),
        # the grid search (and the Dask block that reruns it)
        (r"ProtoNetClassifier\(input_shape=\(1, 28, 28\)\), ",
         "ProtoNetClassifier(input_shape=(1, 28, 28), max_iter=2), "),
        (r"ClassDisjointKFold\(5\)", "ClassDisjointKFold(2)"),
        (r"make_episodic_scorer\(n_way=5, n_shot=1\)",
         "make_episodic_scorer(n_way=5, n_shot=1, n_episodes=10)"),
        # the MAML family: two meta-updates of two tasks
        (r"maml = MAMLClassifier\(", "maml = MAMLClassifier(max_iter=2, meta_batch_size=2, "),
        (r"n_tasks=[\d_]+", "n_tasks=200"),
        (r"max_iter=70_000", "max_iter=5"),
        # fine-tuning: a local weights file, one epoch (the folder is made by the test)
        (r'weights="DEFAULT"', 'weights="resnet18_local.pt"'),
        (r"unfreeze_at=3\)", "unfreeze_at=3, max_epochs=1)"),
        # the GPU block on the CPU
        (r'device="cuda"\)', 'device="cpu", max_iter=2)'),
        # Dask: one in-process worker instead of two processes
        (r"LocalCluster\(n_workers=2, threads_per_worker=1\)",
         "LocalCluster(n_workers=1, threads_per_worker=1, processes=False)"),
    ],
    "docs/user_guide.md": [
        (r'load_omniglot\("small1", return_X_y=True\)', FEW),
        (r"make_episodic_scorer\(f1_score, ", "make_episodic_scorer(f1_score, n_episodes=10, "),
        (r"max_iter=[\d_]+", "max_iter=2"),
        (r"ProtoNetClassifier\(input_shape=\(1, 28, 28\)\)",
         "ProtoNetClassifier(input_shape=(1, 28, 28), max_iter=2)"),
        (r"n_episodes=600", "n_episodes=20"),
        (r"ClassDisjointKFold\(5\)", "ClassDisjointKFold(2)"),
        (r"GroupKFold\(5\)", "GroupKFold(2)"),
        (r"n_tasks=2000", "n_tasks=200"),
        (r"max_epochs=5\)", "max_epochs=1)"),
        (r"DomainAdaptedClassifier\(\)\.fit", "DomainAdaptedClassifier(max_epochs=1).fit"),
        (r"DomainAdaptedClassifier\(\), \{", "DomainAdaptedClassifier(max_epochs=1), {"),
        (r'method="shot"\)\.fit', 'method="shot", max_epochs=2).fit'),
        (r'DomainAdaptedClassifier\(method=(None|"dann")\)',
         r"DomainAdaptedClassifier(method=\1, max_epochs=1)"),
        (r"n_way=\(5, 20\)\)", "n_way=(5, 20), n_episodes=10)"),
    ],
}


def python_blocks(document):
    """The fenced ```python blocks of a Markdown file, in order."""
    text = (ROOT / document).read_text()
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)


def shrunk(document):
    """The blocks of ``document`` with its substitutions applied (each must apply)."""
    blocks = python_blocks(document)
    for pattern, replacement in SHRINK[document]:
        hits = sum(len(re.findall(pattern, block)) for block in blocks)
        assert hits, f"{document}: the substitution {pattern!r} no longer finds its text"
        blocks = [re.sub(pattern, replacement, block) for block in blocks]
    return blocks


def run_blocks(blocks, namespace):
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"<block {i + 1}>", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"block {i + 1} failed:\n{block}") from exc
    return namespace


def _photo_folder(folder):
    """``photos/<class>/*.jpg`` of two sizes, a new photo, and a local resnet18 weights file."""
    import torch
    import torchvision
    from PIL import Image

    rng = np.random.RandomState(0)
    for name, tint in (("cat", 0), ("dog", 2)):
        (folder / "photos" / name).mkdir(parents=True)
        for i in range(6):
            pixels = rng.randint(0, 120, size=(40 + 8 * (i % 2), 48, 3)).astype(np.uint8)
            pixels[..., tint] += 120
            Image.fromarray(pixels).save(folder / "photos" / name / f"{i}.jpg")
    Image.fromarray(pixels).save(folder / "new_photo.jpg")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        torch.save(torchvision.models.resnet18().state_dict(), folder / "resnet18_local.pt")


@pytest.fixture
def in_tmp_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pytest.importorskip("matplotlib").use("Agg")
    yield tmp_path
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize("document", sorted(SHRINK))
def test_every_python_snippet_runs(document, in_tmp_folder):
    if document == "README.md":
        pytest.importorskip("distributed")
    blocks = shrunk(document)
    assert len(blocks) >= 7
    if document == "README.md":
        _photo_folder(in_tmp_folder)
    # the Dask block guards its cluster with __name__ == "__main__"
    namespace = {"__name__": "__main__", "_first_30": _first_30}
    with warnings.catch_warnings(), sklearn.config_context():
        warnings.simplefilter("ignore")  # e.g. tiny fits that warn; errors still fail
        try:
            run_blocks(blocks, namespace)
        finally:
            client = namespace.get("client")
            if client is not None:
                cluster = client.cluster
                client.close()
                cluster.close()


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
