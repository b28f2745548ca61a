"""Memory bandwidth of cards we know, by name.

Decode speed is bound by memory bandwidth, and NVML's bus width x memory clock
reads differently across GDDR6X and HBM, so the vendor's figure wins where the
name is known. Rows are tried in order: the most specific name comes first
("RTX 3090 Ti" before "RTX 3090", "A100 ... 80GB ... SXM" before "A100 ... 80GB").
"""

from __future__ import annotations

import re

# (pattern over the normalised name, GB/s). Patterns see upper case, with "-" and "_" as spaces.
KNOWN_CARDS: tuple[tuple[str, float], ...] = (
    (r"RTX 5090", 1792),
    (r"RTX 4090", 1008),
    (r"RTX 4080 SUPER", 736),
    (r"RTX 4080", 717),
    (r"RTX 4070 TI SUPER", 672),
    (r"RTX 4070 TI", 504),
    (r"RTX 3090 TI", 1008),
    (r"RTX 3090", 936),
    (r"RTX 3060 TI", 448),
    (r"RTX 3060", 360),
    (r"A100\b.*\b80GB\b.*\bSXM|A100\b.*\bSXM.*\b80GB\b", 2039),
    (r"A100\b.*\b80GB\b", 1935),  # the 80 GB PCIe card
    (r"A100\b", 1555),  # 40 GB, SXM or PCIe
    (r"H100 NVL\b", 3900),
    (r"H100\b.*\bPCIE\b", 2000),
    (r"H100\b", 3350),  # SXM, named "H100 80GB HBM3" by NVML
    (r"GH200\b", 4000),
    (r"H200\b", 4800),
    (r"L40S\b", 864),
    (r"\bA6000\b", 768),  # RTX A6000 (not the RTX 6000 Ada)
    (r"\bT4\b", 320),
    (r"V100\b", 900),
)


def _normalise(name: str) -> str:
    return " ".join(name.upper().replace("-", " ").replace("_", " ").split())


def known_bandwidth_gbs(name: str) -> float | None:
    """The vendor's memory bandwidth for a card name as NVML reports it, or None if unknown."""
    normalised = _normalise(name)
    for pattern, gbs in KNOWN_CARDS:
        if re.search(pattern, normalised):
            return float(gbs)
    return None
