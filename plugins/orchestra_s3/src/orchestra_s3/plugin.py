"""Hook implementations: register the ``s3`` destination type."""

from __future__ import annotations

from orchestra_core import DestinationRegistry, hookimpl

from .destination import S3Destination, S3Options


@hookimpl
def orchestra_register_destinations(registry: DestinationRegistry) -> None:
    """Register ``s3``."""
    registry.add("s3", factory=S3Destination, options=S3Options,
                 description="Files in S3-compatible object storage (multipart uploads)")
