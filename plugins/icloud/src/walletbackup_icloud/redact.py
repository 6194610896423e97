"""Keep iCloud's validation token out of urllib3's debug log.

pyicloud sends the token from the X-APPLE-WEBAUTH-VALIDATE cookie as a ``token`` query
parameter when uploading, and urllib3 logs every request URL at DEBUG level. A cookie is a
credential, so the value is replaced before any handler sees the record.
"""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"([?&]token=)[^&\s\"]+")
_LOGGER = "urllib3.connectionpool"


class _RedactToken(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN.sub(r"\1<redacted>", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


_FILTER = _RedactToken()


def redact_urllib3_log() -> None:
    """Install the filter (once; installing it again changes nothing)."""
    logging.getLogger(_LOGGER).addFilter(_FILTER)


__all__ = ["redact_urllib3_log"]
