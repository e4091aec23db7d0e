"""Byte counts as a person reads them in messages: `512 bytes`, `1.5 MiB`, `1 GiB`."""

from __future__ import annotations


def shown(size: int) -> str:
    """A byte count for a person: bytes below 1 KiB, else KiB, MiB, GiB or TiB to one decimal."""
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"
