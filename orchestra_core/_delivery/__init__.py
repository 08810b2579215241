"""Data delivery (seed 000): sources, data templates, formats, destinations and the
orchestration runner. See ``docs/delivery.md``.

Modules: :mod:`.values` (run values, ``${env.X}``), :mod:`.sources` (queries and exports,
streamed), :mod:`.templates` (columns and value formatting), :mod:`.formats` (CSV/TSV/PSV,
JSON Lines, Parquet; gzip, zip), :mod:`.streams` (record batches and files),
:mod:`.catalog` (stored destinations, templates, checkpoints), :mod:`.destinations`
(``filedrop``, ``http``, ``sql``), :mod:`.runner` (the ``orchestration_run`` job).
"""
