"""The REST API (``/api/v1``): tokens, routes per area, the audit log, the OpenAPI document.

:func:`create_api` builds the ASGI app; ``orchestra serve`` mounts it at ``/api/v1``.
"""

from .app import create_api

__all__ = ("create_api",)
