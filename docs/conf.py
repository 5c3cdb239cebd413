"""Sphinx configuration of the sklearn_meta documentation.

Build with ``make docs`` (HTML in ``docs/_build/html``). The build treats
warnings as errors (``-W`` in the Makefile).

The example gallery
-------------------
sphinx-gallery runs every ``examples/plot_*.py`` and keeps its figures; each
example runs on the CPU in under two minutes on data that ships with the
package or with scikit-learn. Environment switches:

* ``SKLEARN_META_DOCS_PLOT=0``: build the gallery pages without running the
  examples (no figures): the quick build for editing prose.
* ``SKLEARN_META_DOCS_EXAMPLES=<regex>``: run only the examples whose path
  matches (``re.search``), for instance ``plot_finetune_image_folder``; the
  others get their pages without running.
* ``CI=true`` (the CI run): the lighter configuration. The examples run in
  full, but the gallery keeps no per-object backreferences, makes no
  "download all" zip files and fails the build on the first example that
  raises, so a broken example stops CI early.
"""

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sklearn_meta

project = "sklearn_meta"
author = "sklearn_meta developers"
copyright = "2026, sklearn_meta developers"
version = release = sklearn_meta.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb"]
default_role = "literal"

# API reference: one page per public object, from the numpydoc docstrings.
autosummary_generate = True
# scikit-learn's metadata-routing and set_output helpers are documented by
# scikit-learn (their docstrings point into its own site).
autodoc_default_options = {
    "exclude-members": ",".join(
        ["get_metadata_routing", "set_output"]
        + [
            f"set_{m}_request"
            for m in (
                "fit",
                "partial_fit",
                "predict",
                "predict_proba",
                "score",
                "transform",
                "split",
            )
        ]
    )
}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()

# Markdown pages (the user guide, the data sets, scale-out).
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

html_theme = "pydata_sphinx_theme"
html_title = "sklearn_meta"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
    "secondary_sidebar_items": ["page-toc"],
}
# the single pages get the whole width (their code blocks are wide); the
# gallery and the API reference keep the list of their pages on the left
html_sidebars = {
    page: [] for page in ("index", "user_guide", "scale_out", "datasets", "benchmarks", "developing")
}

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
RUN_EXAMPLES = os.environ.get("SKLEARN_META_DOCS_PLOT", "1") != "0"
EXAMPLES_PATTERN = os.environ.get("SKLEARN_META_DOCS_EXAMPLES", r"/plot_")

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # demo.py is what `make demo` runs: a console tour, not a gallery page.
    "ignore_pattern": r"(__init__|demo)\.py",
    "filename_pattern": EXAMPLES_PATTERN if RUN_EXAMPLES else r"^$",
    "plot_gallery": "True" if RUN_EXAMPLES else "False",
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "show_memory": False,
    "abort_on_example_error": CI,
    "only_warn_on_example_error": False,
    "download_all_examples": not CI,
    "doc_module": () if CI else ("sklearn_meta",),
    "backreferences_dir": None if CI else "gen_modules/backreferences",
    "reference_url": {"sklearn_meta": None},
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
}
