"""Sphinx configuration: the walletbackup documentation site (MyST Markdown sources).

Built by ``nox -s docs`` with warnings as errors; nothing here needs the network.
"""

from __future__ import annotations

import walletbackup

project = "walletbackup"
author = "the walletbackup authors"
copyright = "the walletbackup authors; Apache-2.0"
release = version = walletbackup.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]

# Anchors for headings down to ###, with GitHub's slugs: the pages link to sections such as
# format.md#48-header-mac, and the same links work on GitHub.
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "signature"

html_theme = "alabaster"
html_title = f"walletbackup {release}"
html_theme_options = {"description": "The backup layer for MPC wallets", "fixed_sidebar": True}
