"""The conformance kit every KMS provider runs against itself (needs ``walletbackup[testing]``).

Subclass :class:`KmsConformance` in a test module (its name must start with ``Test``) and provide
two fixtures, each a callable that returns a *fresh* provider instance on every call:

- ``kms_factory``: instances for one key that exists (the fixture creates it with
  :meth:`~walletbackup.kms.KmsProvider.create_key`), new for each test;
- ``keyless_kms_factory``: instances for a key that does not exist yet (a new path, an unused
  key label), new for each test.

::

    from walletbackup.testing import KmsConformance

    class TestMyKms(KmsConformance):
        @pytest.fixture
        def kms_factory(self, tmp_path):
            url = f"mykms:///{tmp_path}/custodian.key"
            MyKms(url).create_key()
            return lambda: MyKms(url)

        @pytest.fixture
        def keyless_kms_factory(self, tmp_path):
            return lambda: MyKms(f"mykms:///{tmp_path}/never-created.key")

A provider that can show its raw key versions (a key file; not an HSM) sets
``exposes_key_material = True`` and overrides :meth:`~KmsConformance.key_material`: the kit then
also checks that the key never shows in the fingerprint, ``repr``, errors or logs. A check that
does not apply is not collected at all, rather than skipped.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

import pytest

from walletbackup.envelope import MAX_KMS_BLOB
from walletbackup.errors import PolicyViolation, StorageError, UnlockFailed, WalletBackupError
from walletbackup.kms import KeyInfo, KmsKeyMissing, KmsProvider
from walletbackup.testing._kit import (
    collect_opt_ins,
    json_safety_problems,
    require_overrides,
    secret_forms,
)

KmsFactory = Callable[[], KmsProvider]

KEY_SIZE = 32
#: Bytes of a key that may not appear together in its fingerprint.
WINDOW = 8
#: The associated data the kit wraps with (the core binds the custodian stanza's header).
AAD = b"walletbackup kms conformance: stanza header"
#: A fingerprint is printable ASCII without spaces, short enough to read out and compare.
FINGERPRINT = re.compile(r"[!-~]{8,128}")

#: Tests that run only when the class attribute named here is set (not None, not False).
_OPT_IN = {"test_fingerprint_is_not_the_key": "exposes_key_material"}


class KmsConformance:
    """The checks every KMS provider passes; see the module docstring for how to use it."""

    #: The provider's raw key versions can be read (:meth:`key_material`) to hunt for leaks.
    exposes_key_material: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        collect_opt_ins(cls, KmsConformance, _OPT_IN)
        require_overrides(cls, KmsConformance, "exposes_key_material", ("key_material",))

    def key_material(self, provider: KmsProvider) -> Mapping[int, bytes]:
        """The raw key of each version ``provider`` holds now (``exposes_key_material`` only)."""
        raise NotImplementedError

    @pytest.fixture
    def kms_factory(self) -> KmsFactory:
        pytest.fail(
            f"{type(self).__name__} must define a kms_factory fixture returning a callable "
            "() -> a fresh KmsProvider instance for one key that exists"
        )

    @pytest.fixture
    def keyless_kms_factory(self) -> KmsFactory:
        pytest.fail(
            f"{type(self).__name__} must define a keyless_kms_factory fixture returning a "
            "callable () -> a fresh KmsProvider instance for a key that does not exist yet"
        )

    # --- the key ------------------------------------------------------------------------

    def test_key_info_describes_the_key(self, kms_factory: KmsFactory) -> None:
        kms = kms_factory()
        info = kms.key_info()
        assert isinstance(info, KeyInfo)
        assert info.provider == type(kms).scheme
        assert isinstance(info.key_id, str)
        assert info.key_id
        assert isinstance(info.versions, tuple)
        assert all(_is_int(version) for version in info.versions)
        assert list(info.versions) == sorted(set(info.versions)), "versions: unique, ascending"
        assert _is_int(info.current)
        assert info.current in info.versions
        assert isinstance(info.fingerprint, str)
        assert FINGERPRINT.fullmatch(info.fingerprint), f"fingerprint {info.fingerprint!r}"
        assert kms_factory().key_info() == info

    def test_stanza_args_name_provider_key_and_version(self, kms_factory: KmsFactory) -> None:
        kms = kms_factory()
        info, args = kms.key_info(), kms.stanza_args()
        assert isinstance(args, dict)
        assert json_safety_problems(args) == []
        assert args["provider"] == type(kms).scheme
        assert args["key_id"] == info.key_id
        assert _is_int(args["version"])
        assert args["version"] == info.current
        assert kms_factory().stanza_args() == args

    def test_fingerprint_is_stable(self, kms_factory: KmsFactory) -> None:
        kms = kms_factory()
        fingerprint = kms.key_info().fingerprint
        _wrapped(kms)
        assert kms.key_info().fingerprint == fingerprint
        assert kms_factory().key_info().fingerprint == fingerprint

    def test_create_key_refuses_when_a_key_exists(self, kms_factory: KmsFactory) -> None:
        kms = kms_factory()
        info = kms.key_info()
        key, args, blob = _wrapped(kms)
        for provider in (kms, kms_factory()):
            with pytest.raises(StorageError) as raised:
                provider.create_key()
            assert not isinstance(raised.value, KmsKeyMissing)
        assert kms_factory().key_info() == info, "create_key changed the existing key"
        assert kms_factory().unwrap(blob, AAD, args) == key

    def test_create_key_makes_the_missing_key(self, keyless_kms_factory: KmsFactory) -> None:
        kms = keyless_kms_factory()
        info = kms.create_key()
        assert isinstance(info, KeyInfo)
        assert keyless_kms_factory().key_info() == info
        key, args, blob = _wrapped(kms)
        assert keyless_kms_factory().unwrap(blob, AAD, args) == key
        with pytest.raises(StorageError):
            keyless_kms_factory().create_key()
        assert keyless_kms_factory().key_info() == info

    def test_missing_key_raises_kms_key_missing(
        self, kms_factory: KmsFactory, keyless_kms_factory: KmsFactory
    ) -> None:
        key, args, blob = _wrapped(kms_factory())
        kms = keyless_kms_factory()
        calls: dict[str, Callable[[], object]] = {
            "key_info": kms.key_info,
            "stanza_args": kms.stanza_args,
            "wrap": lambda: kms.wrap(key, AAD, args),
            "unwrap": lambda: kms.unwrap(blob, AAD, args),
            "rotate": kms.rotate,
            "retire": lambda: kms.retire(args["version"]),
        }
        for name, call in calls.items():
            with pytest.raises(KmsKeyMissing) as raised:
                call()
            assert str(raised.value), f"{name}: KmsKeyMissing without a message"
            for form in secret_forms(key):
                assert form not in str(raised.value), f"{name}: the wrapped key is in the error"
        # Nothing above may have made a key: a lost key is never silently replaced.
        with pytest.raises(KmsKeyMissing):
            keyless_kms_factory().key_info()

    def test_independent_keys_do_not_open_each_other(
        self, kms_factory: KmsFactory, keyless_kms_factory: KmsFactory
    ) -> None:
        kms, other = kms_factory(), keyless_kms_factory()
        other_info = other.create_key()
        info = kms.key_info()
        assert other_info.key_id != info.key_id
        assert other_info.fingerprint != info.fingerprint
        _, args, blob = _wrapped(kms)
        with pytest.raises(UnlockFailed):
            other.unwrap(blob, AAD, args)

    # --- wrap and unwrap ----------------------------------------------------------------

    def test_wrap_unwrap_round_trip(self, kms_factory: KmsFactory) -> None:
        kms = kms_factory()
        key, args, blob = _wrapped(kms)
        assert isinstance(blob, bytes)
        assert 1 <= len(blob) <= MAX_KMS_BLOB, f"a blob must fit a stanza (1..{MAX_KMS_BLOB})"
        assert key not in blob, "the wrapped key is in the blob in the clear"
        assert kms.unwrap(blob, AAD, args) == key
        assert kms_factory().unwrap(blob, AAD, args) == key
        other_key, _, other_blob = _wrapped(kms)
        assert kms.unwrap(other_blob, AAD, args) == other_key

    def test_wrong_aad_fails_to_unlock(self, kms_factory: KmsFactory) -> None:
        kms = kms_factory()
        _, args, blob = _wrapped(kms)
        for aad in (AAD + b"x", AAD[:-1], b"", bytes(len(AAD))):
            with pytest.raises(UnlockFailed):
                kms.unwrap(blob, aad, args)

    def test_tampered_blob_fails_to_unlock(self, kms_factory: KmsFactory) -> None:
        kms = kms_factory()
        _, args, blob = _wrapped(kms)
        tampered = [_flipped(blob, position) for position in (0, len(blob) // 2, len(blob) - 1)]
        for altered in (*tampered, blob[:-1], blob + b"\x00", b""):
            with pytest.raises(UnlockFailed):
                kms.unwrap(altered, AAD, args)

    # --- versions -----------------------------------------------------------------------

    def test_rotate_adds_a_version_and_old_blobs_still_unwrap(
        self, kms_factory: KmsFactory
    ) -> None:
        kms = kms_factory()
        before = kms.key_info()
        old_key, old_args, old_blob = _wrapped(kms)
        version = kms.rotate()
        assert _is_int(version)
        assert version > max(before.versions), "versions are numbered upwards"
        after = kms_factory().key_info()
        assert after.current == version
        assert after.versions == (*before.versions, version)
        assert after.key_id == before.key_id
        assert after.fingerprint != before.fingerprint, "a new version is a new key"
        new_key, new_args, new_blob = _wrapped(kms)
        assert new_args == {**old_args, "version": version}
        fresh = kms_factory()
        assert fresh.unwrap(old_blob, AAD, old_args) == old_key
        assert fresh.unwrap(new_blob, AAD, new_args) == new_key

    def test_retire_refuses_blobs_of_retired_versions(self, kms_factory: KmsFactory) -> None:
        kms = kms_factory()
        before = kms.key_info()
        _, old_args, old_blob = _wrapped(kms)
        version = kms.rotate()
        new_key, new_args, new_blob = _wrapped(kms)
        assert kms.retire(version) == before.versions, "retire returns what it dropped"
        fresh = kms_factory()
        assert fresh.key_info().versions == (version,)
        with pytest.raises(UnlockFailed) as raised:
            fresh.unwrap(old_blob, AAD, old_args)
        assert re.search(rf"\b{old_args['version']}\b", str(raised.value)), (
            "the error names the retired version"
        )
        assert fresh.unwrap(new_blob, AAD, new_args) == new_key
        assert fresh.retire(version) == (), "what is retired is not retired again"

    def test_retire_keeps_the_current_version(self, kms_factory: KmsFactory) -> None:
        kms = kms_factory()
        info = kms.key_info()
        key, args, blob = _wrapped(kms)
        expected = tuple(version for version in info.versions if version < info.current)
        assert kms.retire(info.current) == expected
        with pytest.raises(PolicyViolation):
            kms.retire(info.current + 1)
        fresh = kms_factory()
        assert fresh.key_info().current == info.current
        assert fresh.unwrap(blob, AAD, args) == key

    # --- secrets stay secret ------------------------------------------------------------

    def test_fingerprint_is_not_the_key(self, kms_factory: KmsFactory) -> None:
        kms = kms_factory()
        kms.rotate()
        info = kms.key_info()
        material = self.key_material(kms)
        assert sorted(material) == list(info.versions), "key_material() gives every version"
        fingerprint = info.fingerprint.lower()
        for version, key in material.items():
            assert len(key) >= WINDOW, f"key_material()[{version}] is not a raw key"
            # Any 8 bytes of the key in hex, not only the whole key: a truncated key is no
            # fingerprint either (random hex matches 16 digits of it only by a 2**-64 chance).
            pieces = [key[start : start + WINDOW].hex() for start in range(len(key) - WINDOW + 1)]
            for form in (*pieces, *secret_forms(key)):
                assert form.lower() not in fingerprint, f"version {version} is in the fingerprint"

    def test_no_secret_in_repr_errors_or_logs(
        self, kms_factory: KmsFactory, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        kms = kms_factory()
        shown: list[str] = []
        secrets: list[bytes] = []
        for outcome in _exercise(kms, kms_factory):
            if isinstance(outcome, bytes):
                secrets.append(outcome)
            else:
                shown.append(outcome)
            if self.exposes_key_material:
                # Gathered as it goes: a retired version is gone from the provider after.
                secrets += self.key_material(kms).values()
        shown += [repr(kms), str(kms), caplog.text]
        shown += [record.getMessage() for record in caplog.records]
        text = "\n".join(shown)
        for secret in secrets:
            for form in secret_forms(secret):
                assert form not in text, "a key shows in repr(), an error or the log"


def _exercise(kms: KmsProvider, kms_factory: KmsFactory) -> Iterator[bytes | str]:
    """Use every operation, failures included: yield the keys wrapped and the texts shown."""
    key, args, blob = _wrapped(kms)
    yield key
    yield repr(kms.key_info())
    yield repr(args)
    failing: list[Callable[[], object]] = [
        lambda: kms.unwrap(blob, AAD + b"x", args),
        lambda: kms.unwrap(_flipped(blob, 0), AAD, args),
        kms.create_key,
    ]
    version = kms.rotate()
    yield repr(kms.key_info())
    kms.retire(version)
    yield repr(kms.key_info())
    failing.append(lambda: kms_factory().unwrap(blob, AAD, args))
    for call in failing:
        try:
            call()
        except WalletBackupError as exc:
            yield f"{exc!r} {exc}"


def _wrapped(kms: KmsProvider) -> tuple[bytes, dict[str, Any], bytes]:
    """A fresh random key, the args it is wrapped under and the blob."""
    key = os.urandom(KEY_SIZE)
    args = kms.stanza_args()
    return key, args, kms.wrap(key, AAD, args)


def _flipped(blob: bytes, position: int) -> bytes:
    changed = bytearray(blob)
    changed[position] ^= 0x01
    return bytes(changed)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


__all__ = ["AAD", "KmsConformance", "KmsFactory"]
