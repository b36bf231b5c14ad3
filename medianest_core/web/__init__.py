"""The web shell: layout, pages and static files. Plugins use :func:`render` for their own pages."""

from __future__ import annotations

from medianest_core.web.shell import render, render_fragment

__all__ = ["render", "render_fragment"]
