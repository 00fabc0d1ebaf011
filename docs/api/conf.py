"""Sphinx configuration of the API reference (``make docs``: HTML in docs/_build/html, warnings
are errors).  Built from the docstrings by autodoc, as TorchRL's reference is."""
project = "algd-components"
author = "algd-components developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]  # Google-style Args:, as TorchRL
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
exclude_patterns = ["_build"]
html_theme = "alabaster"
suppress_warnings = ["autodoc.import_object"]
autodoc_inherit_docstrings = False  # TorchRL base-class docstrings are not ours to render
napoleon_use_ivar = True  # "Attributes:" as fields, not as a second description of dataclass fields
