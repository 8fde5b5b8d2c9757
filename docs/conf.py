"""Sphinx configuration of the jupyter-rtc documentation:
``pip install '.[docs]' && python -m sphinx -W -n -E docs docs/_build/html``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "jupyter-rtc"
author = "the jupyter-rtc developers"
copyright = "the jupyter-rtc developers"  # noqa: A001 (Sphinx's name)

extensions = ["myst_parser", "rtc_reference", "rtc_rest", "rtc_examples"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "_ext"]
nitpicky = True

html_theme = "pydata_sphinx_theme"
html_title = "jupyter-rtc"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
