"""The icloud method runs the core's conformance kit exactly as a third-party method would."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pytest
from icloud_fake import FakeICloud
from icloud_support import APPLE_ID, OTHER_APPLE_ID, sign_in

from walletbackup.methods import BackupMethod, MethodContext
from walletbackup.testing import MethodConformance


class TestICloudConformance(MethodConformance):
    entry_point_name = "icloud"
    has_remote_material = True
    checks_presence = True
    # Another Apple ID, signed in too: its iCloud Drive has no such key file.
    wrong_unlock_options: ClassVar[Mapping[str, Any]] = {"apple_id": OTHER_APPLE_ID}

    @pytest.fixture(autouse=True)
    def _drive(self, fake: FakeICloud) -> None:
        self.fake = fake
        sign_in(fake, OTHER_APPLE_ID)

    @pytest.fixture
    def method_factory(
        self, make_method: Callable[..., BackupMethod]
    ) -> Callable[..., BackupMethod]:
        return make_method

    def corrupt_material(self, args: Mapping[str, Any], context: MethodContext) -> None:
        item = self.fake.item(APPLE_ID, args["file_id"])
        self.fake.alter_behind(APPLE_ID, item.drivewsid, bytes(b ^ 0x5A for b in item.content))

    def delete_material(self, args: Mapping[str, Any], context: MethodContext) -> None:
        self.fake.delete_behind(APPLE_ID, args["file_id"], purge=True)
