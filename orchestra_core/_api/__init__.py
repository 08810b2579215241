"""The REST API (``/api/v1``): tokens, routes per area, the audit log, the OpenAPI document.

:func:`create_api` builds the ASGI app; ``orchestra serve`` mounts it at ``/api/v1``.
Starlette is imported only when the app is built: the command line records changes in the
audit log (:mod:`.audit`) without loading it.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_api as create_api

__all__ = ("create_api",)


def __getattr__(name: str) -> Any:
    if name == "create_api":
        from .app import create_api

        return create_api
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
