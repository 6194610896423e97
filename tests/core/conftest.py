"""Shared set-up for the core's tests.

The envelope tests use the vector generator's helpers (seeded randomness, a fixed-key test KMS,
an independent framing function): tests/vectors/generate.py, importable here as ``generate``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vectors"))
