"""detect-secrets plugin for ragkeys API keys (docs/operating.md, "Leaked keys: GitHub's partner
program and scanners").

    detect-secrets scan --plugin deploy/scanners/ragkeys_detect_secrets.py

A key is `ragk_` + 30 base62 characters (0-9A-Za-z, in that order) + the CRC-32 (IEEE, as zlib's
crc32) of those 30 characters written in base62, most significant digit first, left-padded with
`0` to 6 characters. Only strings whose checksum holds are reported, so a near miss (one
character changed, a hand-made example) is not.
"""
import re
import zlib
from typing import Generator

from detect_secrets.plugins.base import RegexBasedDetector

ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
PREFIX = 'ragk_'
RANDOM_LEN = 30
CHECKSUM_LEN = 6


def checksum(random: str) -> str:
    """The 6 base62 digits of the CRC-32 of `random`."""
    n = zlib.crc32(random.encode('ascii'))
    digits = []
    for _ in range(CHECKSUM_LEN):
        n, d = divmod(n, 62)
        digits.append(ALPHABET[d])
    return ''.join(reversed(digits))


def is_ragkeys_api_key(candidate: str) -> bool:
    """Whether `candidate` is a whole API key whose checksum holds."""
    if len(candidate) != len(PREFIX) + RANDOM_LEN + CHECKSUM_LEN or not candidate.startswith(PREFIX):
        return False
    body = candidate[len(PREFIX):]
    if any(c not in ALPHABET for c in body):
        return False
    return checksum(body[:RANDOM_LEN]) == body[RANDOM_LEN:]


class RagkeysApiKeyDetector(RegexBasedDetector):
    """Scans for ragkeys API keys (`ragk_…`, 41 characters, CRC-32 checked)."""

    secret_type = 'ragkeys API Key'

    # The gitleaks rule's pattern (gitleaks.toml); ASCII so that `\b` reads as RE2's does.
    denylist = [
        re.compile(r'\bragk_[0-9A-Za-z]{36}\b', re.ASCII),
    ]

    def analyze_string(self, string: str) -> Generator[str, None, None]:
        for candidate in super().analyze_string(string):
            if is_ragkeys_api_key(candidate):
                yield candidate
