"""The destination types of the core: ``filedrop``, ``http`` and ``sql``."""
