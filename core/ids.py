"""Identifiers: random, URL-safe, sortable by creation time."""

from __future__ import annotations

import os
import time


def new_id() -> str:
    """A 26-character id: 48 bits of milliseconds then 80 random bits, hex-free Crockford base32."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    chars = []
    for _ in range(26):
        chars.append(alphabet[value & 31])
        value >>= 5
    return "".join(reversed(chars))
