"""The pkcs11 provider beyond the kit: the key stays in the token, URLs and PINs, versions."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pkcs11
import pytest
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from softhsm_token import MODULE, USER_PIN, SoftHsmToken

from walletbackup.errors import (
    MalformedBackup,
    PolicyViolation,
    StorageError,
    UnlockFailed,
    WalletBackupError,
)
from walletbackup.kms import KmsKeyMissing
from walletbackup_pkcs11 import Pkcs11Kms
from walletbackup_pkcs11.kms import BLOB_SIZE

AAD = b"stanza header"
KEY = bytes(range(32))


@pytest.fixture
def kms(softhsm_token: SoftHsmToken) -> Pkcs11Kms:
    provider = Pkcs11Kms(softhsm_token.url("custodian"))
    provider.create_key()
    return provider


@pytest.fixture
def session(kms: Pkcs11Kms, softhsm_token: SoftHsmToken) -> Iterator[pkcs11.Session]:
    """A session of our own on the token; the provider's login (the process's) covers it."""
    token = pkcs11.lib(MODULE).get_token(token_label=softhsm_token.label)
    opened = token.open(rw=True)
    yield opened
    opened.close()


def version_object(session: pkcs11.Session, number: int) -> pkcs11.SecretKey:
    found = list(
        session.get_objects(
            {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: f"custodian.v{number}"}
        )
    )
    assert len(found) == 1
    key = found[0]
    assert isinstance(key, pkcs11.SecretKey)
    return key


# --- the key never leaves the token ---------------------------------------------------------


def test_the_key_value_cannot_be_read(kms: Pkcs11Kms, session: pkcs11.Session) -> None:
    kms.rotate()
    for number in (1, 2):
        key = version_object(session, number)
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            key[Attribute.VALUE]
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.ALWAYS_SENSITIVE] is True
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        assert key[Attribute.LOCAL] is True, "generated in the token, not imported"
        assert key[Attribute.TOKEN] is True
        assert key[Attribute.PRIVATE] is True
        assert key[Attribute.WRAP] is False
        assert key[Attribute.UNWRAP] is False


def test_the_key_cannot_be_wrapped_out(kms: Pkcs11Kms, session: pkcs11.Session) -> None:
    key = version_object(session, 1)
    wrapping = session.generate_key(KeyType.AES, 256, template={Attribute.WRAP: True})
    for mechanism in (Mechanism.AES_KEY_WRAP_PAD, Mechanism.AES_KEY_WRAP):
        with pytest.raises(pkcs11.exceptions.KeyUnextractable):
            wrapping.wrap_key(key, mechanism=mechanism)


# --- wrap, unwrap, rotate, retire -----------------------------------------------------------


def test_blob_layout_and_round_trip(kms: Pkcs11Kms) -> None:
    args = kms.stanza_args()
    blob = kms.wrap(KEY, AAD, args)
    assert len(blob) == BLOB_SIZE
    assert blob[:4] == (1).to_bytes(4, "big"), "the blob starts with its version"
    assert kms.unwrap(blob, AAD, args) == KEY
    assert kms.wrap(KEY, AAD, args) != blob, "a fresh nonce each time"


@pytest.mark.parametrize("position", [0, 3, 4, 11, 12, 23, 24, BLOB_SIZE - 1])
def test_every_part_of_the_blob_is_authenticated(kms: Pkcs11Kms, position: int) -> None:
    args = kms.stanza_args()
    blob = bytearray(kms.wrap(KEY, AAD, args))
    blob[position] ^= 0x01
    with pytest.raises(UnlockFailed) as raised:
        kms.unwrap(bytes(blob), AAD, args)
    assert str(raised.value) == UnlockFailed.MESSAGE


def test_stanza_args_of_the_wrong_shape_are_malformed(kms: Pkcs11Kms) -> None:
    args = kms.stanza_args()
    blob = kms.wrap(KEY, AAD, args)
    for bad in (
        {**args, "provider": "local"},
        {**args, "key_id": "nothex"},
        {**args, "version": True},
        {**args, "version": 0},
        {"provider": "pkcs11"},
    ):
        with pytest.raises(MalformedBackup):
            kms.unwrap(blob, AAD, bad)


def test_rotation_and_retirement(kms: Pkcs11Kms, session: pkcs11.Session) -> None:
    first = kms.key_info()
    old_args = kms.stanza_args()
    old_blob = kms.wrap(KEY, AAD, old_args)
    assert kms.rotate() == 2
    assert kms.rotate() == 3
    new_args = kms.stanza_args()
    assert new_args["version"] == 3
    new_blob = kms.wrap(KEY, AAD, new_args)
    with pytest.raises(PolicyViolation, match="current version 3"):
        kms.retire(4)
    assert kms.retire(3) == (1, 2)
    assert kms.key_info().versions == (3,)
    assert kms.key_info().key_id == first.key_id
    labels = {key.label for key in session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY})}
    assert labels == {"custodian.v3"}, "retired versions are destroyed in the token"
    with pytest.raises(UnlockFailed, match=r"version 1 .* retired"):
        kms.unwrap(old_blob, AAD, old_args)
    assert kms.unwrap(new_blob, AAD, new_args) == KEY


def test_two_objects_of_one_version_both_open_what_they_sealed(
    kms: Pkcs11Kms, session: pkcs11.Session
) -> None:
    """Two rotations at the same moment (two processes) both make a v2: nothing is lost."""
    assert kms.rotate() == 2
    args = kms.stanza_args()
    before = kms.wrap(KEY, AAD, args)
    fingerprint = kms.key_info().fingerprint
    # The other process's object: the same key id, the lowest possible tag.
    key_id = bytes.fromhex(args["key_id"])
    session.generate_key(
        KeyType.AES,
        256,
        label="custodian.v2",
        id=key_id + bytes(8),
        store=True,
        template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.SIGN: True},
    )
    assert kms.key_info().versions == (1, 2)
    assert kms.key_info().fingerprint != fingerprint, "new wraps use the lowest tag"
    # A provider that has not used version 2 yet picks the lowest tag; this one may go on with
    # the object it found first: either way each blob names its object.
    after = Pkcs11Kms(kms.url).wrap(KEY, AAD, args)
    assert after[4:12] == bytes(8)
    assert kms.unwrap(before, AAD, args) == KEY
    assert kms.unwrap(after, AAD, args) == KEY
    assert kms.retire(2) == (1,)


def test_objects_of_another_key_under_the_label_are_refused(
    kms: Pkcs11Kms, session: pkcs11.Session
) -> None:
    session.generate_key(KeyType.AES, 256, label="custodian.v9", id=bytes(24), store=True)
    with pytest.raises(StorageError, match="objects of 2 keys"):
        kms.key_info()


def test_a_label_of_a_version_shape_is_refused(softhsm_token: SoftHsmToken) -> None:
    with pytest.raises(StorageError, match=r"\.v<number>"):
        Pkcs11Kms(softhsm_token.url("custodian.v2"))


def test_keys_of_two_labels_in_one_token_are_separate(softhsm_token: SoftHsmToken) -> None:
    one, two = Pkcs11Kms(softhsm_token.url("one")), Pkcs11Kms(softhsm_token.url("two"))
    one.create_key()
    with pytest.raises(KmsKeyMissing, match="holds no key 'two'"):
        two.key_info()
    two.create_key()
    assert one.rotate() == 2
    assert two.key_info().versions == (1,)


# --- sessions -------------------------------------------------------------------------------


def test_threads_share_the_token(kms: Pkcs11Kms, softhsm_token: SoftHsmToken) -> None:
    args = kms.stanza_args()
    failures: list[BaseException] = []

    def work(provider: Pkcs11Kms) -> None:
        try:
            for _ in range(40):
                key = os.urandom(32)
                assert provider.unwrap(provider.wrap(key, AAD, args), AAD, args) == key
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    providers = [kms, kms, kms, Pkcs11Kms(softhsm_token.url("custodian"))]
    threads = [threading.Thread(target=work, args=(provider,)) for provider in providers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_a_lost_session_is_reopened(kms: Pkcs11Kms) -> None:
    args = kms.stanza_args()
    blob = kms.wrap(KEY, AAD, args)
    # Every session and the login are gone, as when an HSM restarts.
    pkcs11.lib(MODULE).reinitialize()
    assert kms.unwrap(blob, AAD, args) == KEY
    assert kms.key_info().versions == (1,)


# --- URLs and PINs --------------------------------------------------------------------------


def test_a_pin_in_the_url_is_refused_without_echoing_it(softhsm_token: SoftHsmToken) -> None:
    url = softhsm_token.url() + "&pin-value=" + USER_PIN
    with pytest.raises(PolicyViolation) as raised:
        Pkcs11Kms(url)
    assert "pin-value" in str(raised.value)
    assert "logs" in str(raised.value)
    assert USER_PIN not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("pkcs11:object=k?module-path=/m.so&pin-source=env:P", "lacks token"),
        ("pkcs11:token=t;object=k?pin-source=env:P", "lacks module-path"),
        ("pkcs11:token=t;object=k?module-path=/m.so", "lacks pin-source"),
        ("pkcs11:token=t;object=k?module-path=m.so&pin-source=env:P", "absolute"),
        ("pkcs11:token=t;object=k?module-path=/m.so&pin-source=file:rel", "pin-source must"),
        ("pkcs11:token=t;object=k?module-path=/m.so&pin-source=env:P&modul-path=/x", "unknown"),
        ("pkcs11:token=t;object=k;type=private?module-path=/m.so&pin-source=env:P", "secret-key"),
        ("pkcs11:token=t;token=u;object=k?module-path=/m.so&pin-source=env:P", "one value"),
        ("local:///x", "not a PKCS#11 URL"),
    ],
)
def test_malformed_urls_say_why(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message):
        Pkcs11Kms(url)


def test_percent_encoded_values_are_decoded(softhsm_token: SoftHsmToken) -> None:
    url = softhsm_token.url("a key;with=odd chars")
    assert "a%20key%3Bwith%3Dodd%20chars" in url
    kms = Pkcs11Kms(url)
    assert kms.location.object == "a key;with=odd chars"
    kms.create_key()
    assert kms.key_info().versions == (1,)


def test_the_pin_from_an_environment_variable(
    softhsm_token: SoftHsmToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HSM_PIN", USER_PIN)
    kms = Pkcs11Kms(softhsm_token.url(pin_source="env:HSM_PIN"))
    kms.create_key()
    assert kms.key_info().current == 1


def test_an_unset_pin_variable_is_named(softhsm_token: SoftHsmToken) -> None:
    kms = Pkcs11Kms(softhsm_token.url(pin_source="env:WALLETBACKUP_TEST_NO_SUCH_PIN"))
    with pytest.raises(StorageError, match="WALLETBACKUP_TEST_NO_SUCH_PIN is not set"):
        kms.key_info()


def test_a_pin_file_others_may_read_is_refused(softhsm_token: SoftHsmToken) -> None:
    softhsm_token.pin_file.chmod(0o644)
    with pytest.raises(PolicyViolation, match="chmod 600"):
        Pkcs11Kms(softhsm_token.url()).key_info()


@pytest.mark.parametrize(
    ("pin_file", "error"),
    [
        ("/dev/null", "is not a regular file"),
        ("/dev/zero", "larger than 4096 bytes"),
        ("/", "cannot read the PKCS#11 PIN file /: Is a directory"),
    ],
)
def test_a_pin_file_that_is_no_pin_file_is_refused(
    softhsm_token: SoftHsmToken, pin_file: str, error: str
) -> None:
    with pytest.raises(StorageError, match=error):
        Pkcs11Kms(softhsm_token.url(pin_source=f"file:{pin_file}")).key_info()


def test_a_wrong_pin_is_reported_without_the_pin(
    softhsm_token: SoftHsmToken, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HSM_PIN", "99999999")
    with pytest.raises(StorageError) as raised:
        Pkcs11Kms(softhsm_token.url(pin_source="env:HSM_PIN")).key_info()
    assert "refused the user PIN from env:HSM_PIN" in str(raised.value)
    assert "99999999" not in str(raised.value)


def test_an_unknown_token_or_module_is_named(softhsm_token: SoftHsmToken) -> None:
    url = softhsm_token.url().replace(softhsm_token.label, "no-such-token")
    with pytest.raises(StorageError, match="no token labelled 'no-such-token'"):
        Pkcs11Kms(url).key_info()
    url = softhsm_token.url().replace(MODULE, "/nonexistent/module.so")
    with pytest.raises(StorageError, match="cannot load the PKCS#11 module"):
        Pkcs11Kms(url).key_info()


def test_the_pin_is_never_shown(
    softhsm_token: SoftHsmToken, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    kms = Pkcs11Kms(softhsm_token.url())
    shown = [repr(kms), str(kms), repr(kms.location), repr(softhsm_token)]
    kms.create_key()
    args = kms.stanza_args()
    blob = kms.wrap(KEY, AAD, args)
    kms.rotate()
    kms.retire(2)
    for failing in (
        lambda: kms.unwrap(blob, AAD, args),
        lambda: kms.unwrap(blob[:-1], AAD, args),
        kms.create_key,
        lambda: kms.retire(9),
    ):
        with pytest.raises(WalletBackupError) as raised:
            failing()
        shown.append(f"{raised.value!r} {raised.value}")
    shown += [repr(kms.key_info()), caplog.text]
    text = "\n".join(shown)
    assert USER_PIN not in text
    assert "rotated PKCS#11 KMS key" in caplog.text


def test_a_retirement_by_another_process_is_seen_at_once(
    kms: Pkcs11Kms, softhsm_token: SoftHsmToken
) -> None:
    args = kms.stanza_args()
    blob = kms.wrap(KEY, AAD, args)
    assert kms.unwrap(blob, AAD, args) == KEY  # version 1's object is now cached here
    script = (
        "import sys; from walletbackup_pkcs11 import Pkcs11Kms; "
        "kms = Pkcs11Kms(sys.argv[1]); kms.rotate(); print(kms.retire(2))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, kms.url],
        env={**os.environ, **softhsm_token.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "(1,)"
    with pytest.raises(UnlockFailed, match=r"version 1 .* retired"):
        kms.unwrap(blob, AAD, args)
    with pytest.raises(StorageError, match="cannot wrap"):
        kms.wrap(KEY, AAD, args)
    assert kms.stanza_args()["version"] == 2


def test_stanza_args_see_a_rotation_by_another_provider(kms: Pkcs11Kms) -> None:
    assert kms.stanza_args()["version"] == 1
    other = Pkcs11Kms(kms.url)
    assert other.rotate() == 2
    assert other.rotate() == 3
    assert kms.stanza_args()["version"] == 3
    assert other.retire(3) == (1, 2)
    assert kms.stanza_args()["version"] == 3
