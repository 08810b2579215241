"""Orchestra plugin for dbt Cloud: the ``dbt`` integration and its ``dbt_runjob`` job.

A ``dbt_runjob`` task triggers a dbt Cloud job, waits for its run (woken by dbt Cloud webhooks,
polling as the fallback), can be cancelled and resumed, and records the run's metadata and the
models it built as data assets. Modules: :mod:`.runner`, :mod:`.webhooks`, :mod:`.params`,
:mod:`.plugin` (the hooks) and :mod:`.testing` (the dbt Cloud simulator). See
``docs/plugins/dbt.md``.
"""

from .params import DbtRunJob

__version__ = "0.1.0"

__all__ = ("DbtRunJob", "__version__")
