"""The one exception type for errors a user can cause.

Anything a user can fix (a bad path, a bad manifest row, a checksum mismatch,
an unknown class, a corrupt image) raises :class:`Web2SkyError` with a message
that says what is wrong and what to do. The CLI prints the message without a
traceback and exits with status 2.
"""

from __future__ import annotations


class Web2SkyError(Exception):
    """An error the user can act on; its message is shown as is."""
