"""The one unit for sizes a person reads: GiB and MiB (1024-based); KiB for a small file.

It is the unit card and RAM makers mean by "24 GB" (a 24 GB RTX 3090 has 24 GiB), what
NVML, psutil and hardware profiles count in, so a profile's `memory_gb = 24` reads back
as 24.0 GiB and a file's size compares with a card's at a glance. Every face (tables, TUI,
errors, plan notes) formats through here and says "GiB" or "MiB".
"""

from __future__ import annotations

GIB = 1024**3
MIB = 1024**2


def gib_number(n: float) -> str:
    """'21.0': for columns headed in GiB."""
    return f"{n / GIB:.1f}"


def gib(n: float) -> str:
    return f"{gib_number(n)} GiB"


def mib(n: float) -> str:
    return f"{n / MIB:,.1f} MiB"


def size(n: float) -> str:
    """GiB from 1 GiB up, MiB below, KiB under a tenth of a MiB (an icon, a small picture,
    that read "0.0 MiB"): '21.0 GiB', '43.4 MiB', '6.5 KiB'."""
    return gib(n) if n >= GIB else mib(n) if n >= MIB / 10 else f"{n / 1024:,.1f} KiB"


def rate(bytes_per_s: float) -> str:
    return f"{bytes_per_s / MIB:,.1f} MiB/s"
