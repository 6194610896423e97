"""The gdrive method runs the core's conformance kit, against the loopback fake of Google."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pytest
from gdrive_fake import FakeGoogle
from gdrive_support import TIMEOUT, user_credentials

from walletbackup.methods import BackupMethod, MethodContext
from walletbackup.testing import MethodConformance
from walletbackup_gdrive import GDriveMethod, RetryPolicy


class TestGDriveConformance(MethodConformance):
    entry_point_name = "gdrive"
    has_remote_material = True
    checks_presence = True
    # The factory's own vocabulary: another Google account, whose Drive has no such file.
    wrong_unlock_options: ClassVar[Mapping[str, Any]] = {"account": "mallory"}

    @pytest.fixture(autouse=True)
    def _google(self, google: FakeGoogle) -> None:
        self.google = google

    @pytest.fixture
    def method_factory(self, google: FakeGoogle, retry: RetryPolicy) -> Callable[..., BackupMethod]:
        accounts: dict[str, Any] = {}

        def make(account: str = "alice", **overrides: Any) -> BackupMethod:
            if account not in accounts:
                accounts[account] = user_credentials(google, user=account)
            return GDriveMethod(
                **{
                    "credentials": accounts[account],
                    "api_root": google.url,
                    "retry": retry,
                    "timeout": TIMEOUT,
                    **overrides,
                }
            )

        return make

    def corrupt_material(self, args: Mapping[str, Any], context: MethodContext) -> None:
        self.google.corrupt(args["file_id"])

    def delete_material(self, args: Mapping[str, Any], context: MethodContext) -> None:
        self.google.remove(args["file_id"])
