"""Whether a string can be stored as text: the one check the command line makes on every
argument, kept free of heavier imports so that ``orchestra --help`` stays fast."""

from __future__ import annotations

__all__ = ("bad_text",)


def bad_text(value: str) -> str | None:
    """Why *value* cannot be stored as text (a NUL character, a lone surrogate), or ``None``."""
    if "\x00" in value:
        return "holds a NUL character (\\u0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"holds a lone surrogate character (\\u{ord(value[exc.start]):04x}), which is "
                "not text")
    return None
