"""The web dashboard served by ``orchestra serve`` at ``/``: server-rendered pages (Jinja2)
on top of the REST API. Every page reads, and every form changes, through the API's own
routes with the signed-in token, so the API's scopes, client isolation and audit log apply
unchanged. :func:`create_dashboard` builds the ASGI app."""

from __future__ import annotations

from .app import PagesMount, create_dashboard

__all__ = ("PagesMount", "create_dashboard")
