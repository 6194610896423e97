"""The passkey method runs the core's conformance kit, on a software security key."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pytest
from passkey_support import Recorder
from soft_authenticator import SoftAuthenticator

from walletbackup.methods import BackupMethod, MethodContext
from walletbackup.testing import MethodConformance, new_context
from walletbackup_passkey import PasskeyMethod
from walletbackup_passkey.args import parse


class TestPasskeyConformance(MethodConformance):
    entry_point_name = "passkey"
    has_remote_material = True  # the credential on the authenticator
    wrong_unlock_options: ClassVar[Mapping[str, Any]] = {"pin": "pin-Wr0ng-0000"}

    @pytest.fixture(autouse=True)
    def _key(self, key: SoftAuthenticator) -> None:
        self.key = key

    @pytest.fixture
    def method_factory(self) -> Callable[..., BackupMethod]:
        def make(**overrides: Any) -> BackupMethod:
            options = {
                "transport": "security-key",
                "device": self.key,
                "user_interaction": Recorder(pin=None),
                "pin": "pin-7Qz4-Vx81",
            }
            return PasskeyMethod(**{**options, **overrides})

        return make

    def delete_material(self, args: Mapping[str, Any], context: MethodContext) -> None:
        self.key.delete(parse(args).credential_id)

    def corrupt_material(self, args: Mapping[str, Any], context: MethodContext) -> None:
        self.key.corrupt(parse(args).credential_id)

    def test_discard_then_unlock(self, method_factory: Callable[..., BackupMethod]) -> None:
        # The kit's version expects discard to delete the material. A passkey's credential is
        # not discoverable on a security key (nothing is stored there to delete) and no API
        # deletes a platform passkey, so discard deletes nothing and the passkey still unlocks.
        context = new_context()
        enrollment = method_factory().enroll(context)
        method_factory().discard(enrollment.args, context)
        assert method_factory().unlock(enrollment.args, context) == enrollment.secret
