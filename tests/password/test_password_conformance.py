"""The password method runs the core's conformance kit exactly as a third-party method would."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import pytest

from walletbackup import kdf
from walletbackup.methods import BackupMethod
from walletbackup.testing import MethodConformance
from walletbackup_password import PasswordMethod


class TestPasswordConformance(MethodConformance):
    entry_point_name = "password"
    wrong_unlock_options: ClassVar[dict[str, str]] = {"password": "Wrong-Zebra-Quartz-Lamp-91"}

    @pytest.fixture
    def method_factory(self) -> Callable[..., BackupMethod]:
        defaults = {
            "password": "Right-Otter-Maple-Violin-27",
            "low_memory": True,
            "target_seconds": 0.001,
        }
        return lambda **overrides: PasswordMethod(**{**defaults, **overrides})


class TestPasswordConformanceAtTheCeiling(TestPasswordConformance):
    """The kit again, with this device's ceiling lowered to exactly the costs enrolled."""

    @pytest.fixture(autouse=True)
    def _ceiling_at_the_low_memory_floor(self, monkeypatch: pytest.MonkeyPatch) -> None:
        floor = kdf.LOW_MEMORY_FLOOR
        ceiling = kdf.Ceiling(floor.memory_kib, floor.time_cost * floor.memory_kib)
        monkeypatch.setenv(kdf.CEILING_ENV, ceiling.to_text())
