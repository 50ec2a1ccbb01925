"""Identity numbers: the 18-character resident identity number (GB 11643-1999).

The 18th character is an ISO 7064 MOD 11-2 check digit over the first 17 digits
(weights 2^(17-i) mod 11; remainder r maps to "10X98765432"[r]).
"""

from __future__ import annotations

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def gb11643_check_digit(first17: str) -> str:
    """The check character ("0".."9" or "X") for 17 leading digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError(f"expected 17 digits, got {first17!r}")
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def valid_certno(s: object) -> bool:
    """True for 18 characters, 17 digits then the right check character (upper-case X only)."""
    if not isinstance(s, str) or len(s) != 18:
        return False
    head = s[:17]
    if not head.isascii() or not head.isdigit():
        return False
    return gb11643_check_digit(head) == s[17]


def make_certno(first17: str) -> str:
    """Append the check character to 17 digits."""
    return first17 + gb11643_check_digit(first17)
