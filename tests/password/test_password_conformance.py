"""The password method runs the core's conformance kit exactly as a third-party method would."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import pytest

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
