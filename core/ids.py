"""Identifiers: random, URL-safe, sortable by creation time."""

from __future__ import annotations

import os
import time

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base32, lower case
# Ten bits as two characters, and a random byte as one character of its low five bits: the
# milliseconds are five lookups and the random part one C call (a loop of 26 shifts of a 130-bit
# number took ~4 us, and every model call makes two or more ids).
_PAIRS = [high + low for high in ALPHABET for low in ALPHABET]
_RANDOM = bytes(ord(ALPHABET[byte & 31]) for byte in range(256))


def new_id() -> str:
    """A 26-character id: 48 bits of milliseconds (as 50 bits: ten characters) then 80 random bits
    (sixteen characters), Crockford base32."""
    ms = int(time.time() * 1000)
    pairs = _PAIRS
    return (
        pairs[ms >> 40 & 1023]
        + pairs[ms >> 30 & 1023]
        + pairs[ms >> 20 & 1023]
        + pairs[ms >> 10 & 1023]
        + pairs[ms & 1023]
        + os.urandom(16).translate(_RANDOM).decode()
    )
