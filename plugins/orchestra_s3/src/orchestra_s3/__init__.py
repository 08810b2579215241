"""Orchestra plugin: the ``s3`` destination."""

from .destination import S3Destination, S3Options

__all__ = ("S3Destination", "S3Options")
