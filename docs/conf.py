"""Sphinx configuration of skfisher's documentation site.

Build it with ``sphinx-build -W --keep-going -b html docs docs/_build/html``
(``.ci/run`` does) and open ``docs/_build/html/index.html``.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's package, also without an install
os.environ.setdefault("MPLBACKEND", "Agg")

import skfisher  # noqa: E402

project = "skfisher"
author = "the skfisher developers"
copyright = "the skfisher developers"
version = release = skfisher.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "**.codeobj.json"]
templates_path = ["_templates"]

# Every cross-reference must resolve (with -W, a broken one fails the build), except
# those into other projects (no intersphinx: the build reads nothing from the network)
# and those to private modules, which docstrings cite for the reader of the code
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|torch|skorch|sklearn|scipy|modAL|matplotlib|PIL)\..*"),
    (r"py:.*", r"Module"),
    (r"py:.*", r"skfisher(\.\w+)*\._\w+(\.\w+)*"),
    (r"py:.*", r"(output_factor|factored_rows)"),
]

# Markdown pages: MyST, with $...$ math and ::: fences
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
suppress_warnings = ["myst.xref_missing"]  # links to repository files outside docs/

# API reference: one page per public name, from the numpydoc docstrings
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# sections numpydoc does not know, in the wrong order or malformed: warnings, so errors under -W
numpydoc_validation_checks = {"GL06", "GL07"}

# Gallery: examples/ rendered; only those that finish in about a minute on a 2-core
# CPU are executed at build time; the others are shown with their code and a
# figure saved by the benchmark that measured the same thing
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/(modal_quickstart|modal_fisher_mask)\.py$",
    "ignore_pattern": r"__init__\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "plot_gallery": "True",
    "abort_on_example_error": True,
    "image_scrapers": ("matplotlib",),
}

html_theme = "pydata_sphinx_theme"
html_title = "skfisher"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False


def _skip_metadata_requests(app, what, name, obj, skip, options):
    """scikit-learn's generated ``set_*_request`` methods: documented by scikit-learn,
    with cross-references into its own site."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
