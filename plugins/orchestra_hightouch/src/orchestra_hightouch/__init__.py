"""Orchestra plugin for Hightouch: the ``hightouch`` integration and its ``hightouch_sync`` job.

The job triggers one Hightouch sync (by id or slug) and waits for its run: see
:mod:`orchestra_hightouch.runner`; alert webhooks are in :mod:`orchestra_hightouch.webhooks`
and a simulator of the API is in :mod:`orchestra_hightouch.testing`.
"""

from .params import HightouchSync

__version__ = "0.1.0"

__all__ = ("HightouchSync", "__version__")
