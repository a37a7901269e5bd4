"""Which addresses only this machine can reach: the UI and the HTTP API bind there unless told otherwise (the
API only with a key), so one definition serves both."""
from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost; a name that is not ``localhost`` may resolve to anything."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
