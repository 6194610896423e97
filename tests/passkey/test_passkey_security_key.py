"""The security-key path: the real fido2 Fido2Client against the software CTAP2 authenticator."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from passkey_support import PIN, Recorder, new_key
from soft_authenticator import SoftAuthenticator

from walletbackup.errors import (
    BackupNotFound,
    MethodUnavailable,
    PolicyViolation,
    UnlockFailed,
)
from walletbackup.methods import Enrollment
from walletbackup.testing import new_context
from walletbackup_passkey import PasskeyDeclined, PasskeyMethod, PasskeyNotFound, PinRejected
from walletbackup_passkey import devices as devices_module
from walletbackup_passkey import security_key as security_key_module
from walletbackup_passkey.args import b64encode, parse

CONTEXT = new_context()


def enroll(**options: Any) -> Enrollment:
    return PasskeyMethod(**options).enroll(CONTEXT)


def unlock(enrollment: Enrollment, **options: Any) -> bytes:
    return PasskeyMethod(**options).unlock(enrollment.args, CONTEXT)


@pytest.mark.parametrize("protocols", [(1,), (2,), (2, 1)], ids=["pin-uv-1", "pin-uv-2", "both"])
def test_enroll_then_unlock(protocols: tuple[int, ...]) -> None:
    key, person = new_key(protocols=protocols), Recorder()
    enrollment = enroll(transport="security-key", device=key, user_interaction=person)
    found = parse(enrollment.args)
    assert (found.transport, found.rp_id) == ("security-key", "localhost")
    assert found.credential_id in key.credentials
    assert not key.credentials[found.credential_id].resident  # nothing stored on the key
    # One PIN for the two requests of an enrollment (create, then evaluate the PRF).
    assert person.events.count("pin") == 1
    assert person.events.count("touch") == 2
    assert unlock(enrollment, device=key, user_interaction=Recorder()) == enrollment.secret


def test_a_key_with_prf_at_creation_needs_one_request() -> None:
    key, person = new_key(hmac_secret_mc=True), Recorder()
    enrollment = enroll(device=key, user_interaction=person)
    assert person.events.count("touch") == 1  # created and evaluated in one touch
    assert unlock(enrollment, device=key, user_interaction=Recorder()) == enrollment.secret


def test_each_enrollment_has_its_own_salt_and_credential(key_options: dict[str, Any]) -> None:
    first, second = enroll(**key_options), enroll(**key_options)
    assert parse(first.args).salt != parse(second.args).salt
    assert parse(first.args).credential_id != parse(second.args).credential_id
    assert first.secret != second.secret


def test_another_credential_of_the_same_key_gives_another_secret(
    key_options: dict[str, Any],
) -> None:
    first, second = enroll(**key_options), enroll(**key_options)
    swapped = {**first.args, "credential_id": second.args["credential_id"]}
    secret = PasskeyMethod(**key_options).unlock(swapped, CONTEXT)
    assert secret not in (first.secret, second.secret)


def test_a_deleted_credential_is_not_found(key_options: dict[str, Any]) -> None:
    enrollment = enroll(**key_options)
    key_options["device"].delete(parse(enrollment.args).credential_id)
    with pytest.raises(PasskeyNotFound, match="does not hold the passkey") as caught:
        unlock(enrollment, **key_options)
    # Both: the core tries the wallet's next passkey (UnlockFailed), and it is missing material.
    assert isinstance(caught.value, UnlockFailed)
    assert isinstance(caught.value, BackupNotFound)


def test_a_passkey_on_another_key_is_not_found(key_options: dict[str, Any]) -> None:
    enrollment = enroll(**key_options)
    with pytest.raises(PasskeyNotFound):
        unlock(enrollment, device=new_key(), user_interaction=Recorder())


def test_several_passkeys_each_unlock_with_their_own_key() -> None:
    phone_like, spare = new_key(), new_key()
    on_first = enroll(device=phone_like, user_interaction=Recorder())
    on_spare = enroll(device=spare, user_interaction=Recorder())
    assert unlock(on_first, device=phone_like, user_interaction=Recorder()) == on_first.secret
    assert unlock(on_spare, device=spare, user_interaction=Recorder()) == on_spare.secret
    with pytest.raises(PasskeyNotFound):
        unlock(on_first, device=spare, user_interaction=Recorder())


def test_a_wrong_pin_is_rejected_and_not_tried_again(key_options: dict[str, Any]) -> None:
    key: SoftAuthenticator = key_options["device"]
    enrollment = enroll(**key_options)
    method = PasskeyMethod(**{**key_options, "user_interaction": Recorder(pin="pin-Wr0ng-0000")})
    with pytest.raises(PinRejected, match="rejected the PIN \\(7 attempts left") as caught:
        method.unlock(enrollment.args, CONTEXT)
    assert "pin-Wr0ng-0000" not in str(caught.value)
    # A second stanza in the same operation: refused without touching the key again.
    with pytest.raises(PinRejected):
        method.unlock(enrollment.args, CONTEXT)
    assert key.pin_retries == 7
    assert unlock(enrollment, **key_options) == enrollment.secret  # the right PIN still works


def test_a_blocked_pin_says_the_key_is_lost(key_options: dict[str, Any]) -> None:
    enrollment = enroll(**key_options)
    key_options["device"].pin_retries = 0
    with pytest.raises(MethodUnavailable, match=r"PIN is blocked.*another method"):
        unlock(enrollment, **key_options)


def test_a_key_without_a_pin_is_refused_before_any_touch() -> None:
    person = Recorder()
    with pytest.raises(MethodUnavailable, match=r"no PIN yet.*walletbackup passkey set-pin"):
        enroll(device=new_key(pin=None), user_interaction=person)
    assert person.events == []


def test_a_key_without_prf_names_the_alternatives() -> None:
    person = Recorder()
    with pytest.raises(MethodUnavailable, match=r"hmac-secret.*password, gdrive or icloud"):
        enroll(device=new_key(hmac_secret=False), user_interaction=person)
    assert person.events == []


def test_a_key_speaking_an_unknown_pin_protocol_is_unavailable() -> None:
    key = SoftAuthenticator(pin=PIN, protocols=(3,))  # fido2 knows protocols 1 and 2
    with pytest.raises(MethodUnavailable, match="unsupported PIN protocol"):
        enroll(device=key, user_interaction=Recorder())


def test_refused_user_verification_is_declined() -> None:
    key = new_key(pin=None, builtin_uv=True)
    enrollment = enroll(device=key, user_interaction=Recorder())
    key.uv_ok = False
    with pytest.raises(PasskeyDeclined, match="refused user verification"):
        unlock(enrollment, device=key, user_interaction=Recorder())


def test_built_in_verification_gives_the_same_secret_as_the_pin() -> None:
    key = new_key(builtin_uv=True)
    enrollment = enroll(device=key, user_interaction=Recorder())
    assert unlock(enrollment, device=key, pin=PIN, user_interaction=Recorder()) == (
        enrollment.secret
    )


def test_a_cancelled_pin_prompt_is_declined(key_options: dict[str, Any]) -> None:
    enrollment = enroll(**key_options)
    with pytest.raises(PasskeyDeclined, match="no PIN was entered"):
        unlock(enrollment, device=key_options["device"], user_interaction=Recorder(pin=None))


def test_an_untouched_key_is_declined(key_options: dict[str, Any]) -> None:
    enrollment = enroll(**key_options)
    key_options["device"].presence = False
    with pytest.raises(PasskeyDeclined, match="not touched in time"):
        unlock(enrollment, **key_options)


def test_the_pin_option_answers_the_prompt(key: SoftAuthenticator) -> None:
    person = Recorder(pin=None)
    enrollment = enroll(device=key, pin=PIN, user_interaction=person)
    assert "pin" not in person.events
    assert unlock(enrollment, device=key, pin=PIN, user_interaction=person) == enrollment.secret


def test_no_key_connected(monkeypatch: pytest.MonkeyPatch, person: Recorder) -> None:
    # This machine has no USB keys; say so explicitly, so a developer's own key is never used.
    monkeypatch.setattr(security_key_module, "connected_keys", list)
    monkeypatch.setattr(devices_module, "key_connected", lambda: False)
    method = PasskeyMethod(transport="security-key", user_interaction=person)
    assert not method.availability().available
    assert "plug in" in method.availability().remedy
    with pytest.raises(MethodUnavailable, match="no FIDO2 security key is connected"):
        method.enroll(CONTEXT)
    args = {
        "v": 1,
        "transport": "security-key",
        "rp_id": "localhost",
        "credential_id": b64encode(b"\1" * 32),
        "salt": b64encode(b"\2" * 32),
    }
    with pytest.raises(PasskeyNotFound, match=r"no security key is connected.*transport='browser'"):
        method.unlock(args, CONTEXT)


def test_the_first_connected_key_is_used(
    monkeypatch: pytest.MonkeyPatch, key: SoftAuthenticator, person: Recorder
) -> None:
    monkeypatch.setattr(security_key_module, "connected_keys", lambda: [key])
    monkeypatch.setattr(devices_module, "key_connected", lambda: True)
    method = PasskeyMethod(user_interaction=person)  # transport auto: a key is connected
    assert method.availability().available
    enrollment = method.enroll(CONTEXT)
    assert parse(enrollment.args).transport == "security-key"
    assert parse(enrollment.args).credential_id in key.credentials
    assert method.unlock(enrollment.args, CONTEXT) == enrollment.secret


def test_a_passkey_is_bound_to_its_relying_party(key_options: dict[str, Any]) -> None:
    enrollment = enroll(**key_options, rp_id="wallet.example.com")
    assert enrollment.args["rp_id"] == "wallet.example.com"
    assert unlock(enrollment, **key_options) == enrollment.secret
    elsewhere = {**enrollment.args, "rp_id": "localhost"}
    with pytest.raises(PasskeyNotFound):
        PasskeyMethod(**key_options).unlock(elsewhere, CONTEXT)


def test_another_rp_id_cannot_take_the_browser_path(key_options: dict[str, Any]) -> None:
    enrollment = enroll(**key_options, rp_id="wallet.example.com")
    method = PasskeyMethod(transport="browser", open_browser=lambda url: False)
    with pytest.raises(PasskeyNotFound, match="only the security-key path"):
        method.unlock(enrollment.args, CONTEXT)


def test_a_second_concurrent_request_is_refused(key_options: dict[str, Any]) -> None:
    enrollment = enroll(**key_options)
    asked, answer = threading.Event(), threading.Event()

    class Slow(Recorder):
        def request_pin(self, permissions: Any, rp_id: str | None) -> str | None:
            asked.set()
            answer.wait(30)
            return PIN

    results: list[bytes] = []
    first = threading.Thread(
        target=lambda: results.append(
            unlock(enrollment, device=key_options["device"], user_interaction=Slow())
        )
    )
    first.start()
    try:
        assert asked.wait(30)
        with pytest.raises(PolicyViolation, match="another passkey request is already waiting"):
            unlock(enrollment, **key_options)
    finally:
        answer.set()
        first.join(30)
    assert results == [enrollment.secret]  # the first request was not disturbed


def test_the_method_secret_and_pin_stay_out_of_repr(key_options: dict[str, Any]) -> None:
    method = PasskeyMethod(**key_options, pin=PIN)
    enrollment = method.enroll(CONTEXT)
    shown = repr(method) + repr(enrollment) + repr(method._interaction())
    assert PIN not in shown
    assert enrollment.secret.hex() not in shown
    assert b64encode(enrollment.secret) not in shown
