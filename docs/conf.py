"""Sphinx configuration of the wsstate documentation site (``make docs``).

Markdown pages (MyST), the API reference from the docstrings (autodoc), and one
page per machine rendered from ``spec/*.toml`` at build time by
:mod:`wsstate_tools.sphinxext` (diagram, full table, effect vocabulary, close
codes). Built with ``-W --keep-going``: a broken reference, an undocumented
public name or a stale include fails the build.
"""

from __future__ import annotations

import wsstate

project = "wsstate"
author = "wsstate developers"
copyright = "wsstate developers"
release = wsstate.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinxcontrib.mermaid",
    "wsstate_tools.sphinxext",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]

# Every cross-reference must resolve: a Python name that does not exist, a
# document or a heading that moved, all fail the build.
nitpicky = True
# Types of other libraries appear in signatures; there is no intersphinx (the
# build runs offline), so their names are accepted as they are.
nitpick_ignore_regex = [
    (
        "py:.*",
        r"_?(websockets|starlette|asyncio|contextlib|collections\.abc|typing|types|enum"
        r"|threading|socket|logging)\..*",
    ),
    # Internal types that appear in public signatures (the transport protocol of the
    # adapters); they are not part of the public API.
    ("py:class", r"(wsstate\.adapters\.base\.)?Transport"),
]
suppress_warnings = [
    # Format sketches in TOML with `...` placeholders (spec/README.md) are not valid
    # TOML; Pygments then highlights them leniently, which is all they need.
    "misc.highlighting_failure",
    # Pages written for the forge skip heading levels (## then ####); harmless here.
    "myst.header",
]

myst_enable_extensions = ["colon_fence", "deflist"]
# ```mermaid fences (the pages also render on the forge) become diagrams.
myst_fence_as_directive = ["mermaid"]
myst_heading_anchors = 3

autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_title = f"wsstate {release}"
html_static_path: list[str] = []
html_copy_source = False
html_show_sourcelink = False

# Diagrams render in the browser from a vendored mermaid.min.js (no CDN):
# wsstate_tools.sphinxext fetches it once with `npm pack` into _build/vendor.
wsstate_mermaid_version = "11.12.1"
# Diagrams at their natural size (wsstate.css scrolls the wide machine diagrams).
mermaid_init_config = {"startOnLoad": False, "state": {"useMaxWidth": False}}

# Every public name (__all__) of these modules must be documented (the build fails
# otherwise): wsstate_tools.sphinxext checks it once every page is read.
wsstate_public_modules = ["wsstate", "wsstate.testing"]
