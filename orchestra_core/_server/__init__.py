"""Orchestra's HTTP server: an ASGI (Starlette) app served by uvicorn in ``orchestra serve``."""

from .app import create_app

__all__ = ("create_app",)
