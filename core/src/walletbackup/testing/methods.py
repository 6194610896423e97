"""The conformance kit every backup method runs against itself (needs ``walletbackup[testing]``).

Subclass :class:`MethodConformance` in a test module (its name must start with ``Test``) and
provide a ``method_factory`` fixture: a callable that returns a *fresh* method instance on each
call, with the same options unless keyword arguments override them::

    from walletbackup.testing import MethodConformance

    class TestMyMethod(MethodConformance):
        entry_point_name = "mymethod"                  # checks the entry point registers it
        wrong_unlock_options = {"password": "wrong horse battery staple"}

        @pytest.fixture
        def method_factory(self):
            return lambda **overrides: MyMethod(**{"password": "correct horse", **overrides})

A method that keeps key material somewhere else (a file, a cloud drive) sets
``has_remote_material = True`` and overrides :meth:`~MethodConformance.corrupt_material` and
:meth:`~MethodConformance.delete_material`. One that implements
:meth:`~walletbackup.methods.BackupMethod.check_presence` also sets ``checks_presence = True``:
the kit then checks it says ``True`` for fresh material and ``False`` once it is deleted or
discarded. Give secret options distinctive values: the kit looks for them in ``repr``, ``str``
and log output.

Checks that do not apply to a method (remote material, wrong unlock options, entry point) are
not collected at all, rather than skipped.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pytest

from walletbackup import plugins
from walletbackup.errors import MalformedBackup, WalletBackupError
from walletbackup.methods import (
    SECRET_SIZE,
    Availability,
    BackupMethod,
    Enrollment,
    MethodContext,
    Option,
)
from walletbackup.testing._kit import (
    collect_opt_ins,
    json_safety_problems,
    require_overrides,
    secret_forms,
)

MethodFactory = Callable[..., BackupMethod]

METHOD_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
#: Words that mark an option as holding a secret; such options must be declared ``secret=True``.
SECRET_WORDS = frozenset({"password", "passphrase", "pin", "secret", "token", "mnemonic"})
#: Stanza args no method may accept: ``validate_args`` must raise MalformedBackup for each.
MALFORMED_ARGS: tuple[dict[str, Any], ...] = (
    {},
    {"unexpected": "value"},
    {"": [[{}]]},
)

#: Tests that run only when the class attribute named here is set (not None, not False).
_OPT_IN = {
    "test_deleted_material_fails_to_unlock": "has_remote_material",
    "test_corrupted_material_is_detected": "has_remote_material",
    "test_wrong_unlock_options_do_not_unlock": "wrong_unlock_options",
    "test_registered_by_its_entry_point": "entry_point_name",
    "test_presence_follows_the_material": "checks_presence",
}


def new_context() -> MethodContext:
    """A fresh, random context, as the core makes for each new stanza."""
    return MethodContext(
        wallet_id=secrets.token_hex(8),
        backup_set_id=secrets.token_hex(16),
        envelope_id=secrets.token_hex(32),
        stanza_id=secrets.token_hex(16),
    )


class MethodConformance:
    """The checks every backup method passes; see the module docstring for how to use it."""

    #: The method keeps key material outside its args (a file, a cloud drive).
    has_remote_material: ClassVar[bool] = False
    #: Options that must not unlock an enrollment made with the factory's defaults.
    wrong_unlock_options: ClassVar[Mapping[str, Any] | None] = None
    #: The entry point (group ``walletbackup``) that registers this method, when installed.
    entry_point_name: ClassVar[str | None] = None
    #: The method implements ``check_presence`` (needs ``has_remote_material``).
    checks_presence: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        collect_opt_ins(cls, MethodConformance, _OPT_IN)
        require_overrides(
            cls, MethodConformance, "has_remote_material", ("corrupt_material", "delete_material")
        )
        if cls.checks_presence and not cls.has_remote_material:
            raise TypeError(
                f"{cls.__name__} sets checks_presence: set has_remote_material too (the check "
                "deletes the material with delete_material())"
            )

    def corrupt_material(self, args: Mapping[str, Any], context: MethodContext) -> None:
        """Alter the remote key material for ``args`` in place (``has_remote_material`` only)."""
        raise NotImplementedError

    def delete_material(self, args: Mapping[str, Any], context: MethodContext) -> None:
        """Delete the remote key material for ``args`` behind the method's back."""
        raise NotImplementedError

    @pytest.fixture
    def method_factory(self) -> MethodFactory:
        pytest.fail(
            f"{type(self).__name__} must define a method_factory fixture returning a callable "
            "(**overrides) -> a fresh BackupMethod"
        )

    # --- declaration --------------------------------------------------------------------

    def test_name_is_valid(self, method_factory: MethodFactory) -> None:
        name = method_factory().name
        assert isinstance(name, str)
        assert METHOD_NAME.fullmatch(name), f"name {name!r} must match {METHOD_NAME.pattern}"
        assert name != "kms", "the name 'kms' is reserved for the custodian's KMS stanza"

    def test_options_are_declared(self, method_factory: MethodFactory) -> None:
        options = type(method_factory()).options
        assert isinstance(options, tuple)
        for option in options:
            assert isinstance(option, Option), f"{option!r} is not a walletbackup.methods.Option"
            assert option.name.isidentifier(), f"option {option.name!r} is not a keyword name"
            assert option.secret or not option.confirm, f"{option.name}: confirm needs secret"
            words = set(option.name.lower().split("_"))
            assert option.secret or not words & SECRET_WORDS, (
                f"option {option.name!r} looks like a secret: declare it with secret=True"
            )
        names = [option.name for option in options]
        assert len(names) == len(set(names)), f"option names repeat: {names}"

    def test_availability_is_an_availability(self, method_factory: MethodFactory) -> None:
        assert isinstance(method_factory().availability(), Availability)

    # --- enroll and unlock --------------------------------------------------------------

    def test_enroll_returns_a_secret_and_json_safe_args(
        self, method_factory: MethodFactory
    ) -> None:
        enrollment = method_factory().enroll(new_context())
        assert isinstance(enrollment, Enrollment)
        assert isinstance(enrollment.secret, bytes)
        assert len(enrollment.secret) == SECRET_SIZE
        assert isinstance(enrollment.args, Mapping)
        assert json_safety_problems(enrollment.args) == []

    def test_unlock_on_the_same_instance(self, method_factory: MethodFactory) -> None:
        method, context = method_factory(), new_context()
        enrollment = method.enroll(context)
        assert method.unlock(enrollment.args, context) == enrollment.secret

    def test_unlock_on_a_fresh_instance(self, method_factory: MethodFactory) -> None:
        context = new_context()
        enrollment = method_factory().enroll(context)
        assert method_factory().unlock(enrollment.args, context) == enrollment.secret

    def test_enrollments_are_distinct(self, method_factory: MethodFactory) -> None:
        method = method_factory()
        first, second = method.enroll(new_context()), method.enroll(new_context())
        assert first.secret != second.secret
        assert first.args != second.args

    def test_enroll_keeps_earlier_enrollments(self, method_factory: MethodFactory) -> None:
        # The core discards old material only after the new backup is stored.
        method, first_context, second_context = method_factory(), new_context(), new_context()
        first = method.enroll(first_context)
        method.enroll(second_context)
        assert method_factory().unlock(first.args, first_context) == first.secret

    # --- validation ---------------------------------------------------------------------

    def test_validate_args_accepts_enrolled_args(self, method_factory: MethodFactory) -> None:
        method = method_factory()
        type(method).validate_args(method.enroll(new_context()).args)

    @pytest.mark.parametrize("args", MALFORMED_ARGS, ids=["empty", "unexpected-key", "nested"])
    def test_validate_args_rejects_malformed_args(
        self, method_factory: MethodFactory, args: dict[str, Any]
    ) -> None:
        with pytest.raises(MalformedBackup):
            type(method_factory()).validate_args(args)

    # --- discard and remote material ----------------------------------------------------

    def test_discard_then_unlock(self, method_factory: MethodFactory) -> None:
        context = new_context()
        enrollment = method_factory().enroll(context)
        method_factory().discard(enrollment.args, context)
        if self.has_remote_material:
            with pytest.raises(WalletBackupError):
                method_factory().unlock(enrollment.args, context)
        else:
            # Nothing remote to delete: discard must leave the method able to unlock.
            assert method_factory().unlock(enrollment.args, context) == enrollment.secret

    def test_discard_twice_is_safe(self, method_factory: MethodFactory) -> None:
        context = new_context()
        enrollment = method_factory().enroll(context)
        method_factory().discard(enrollment.args, context)
        method_factory().discard(enrollment.args, context)

    def test_deleted_material_fails_to_unlock(self, method_factory: MethodFactory) -> None:
        context = new_context()
        enrollment = method_factory().enroll(context)
        self.delete_material(enrollment.args, context)
        with pytest.raises(WalletBackupError):
            method_factory().unlock(enrollment.args, context)

    def test_corrupted_material_is_detected(self, method_factory: MethodFactory) -> None:
        context = new_context()
        enrollment = method_factory().enroll(context)
        self.corrupt_material(enrollment.args, context)
        _assert_not_unlocked(method_factory(), enrollment, context)

    def test_wrong_unlock_options_do_not_unlock(self, method_factory: MethodFactory) -> None:
        context = new_context()
        enrollment = method_factory().enroll(context)
        wrong = method_factory(**(self.wrong_unlock_options or {}))
        _assert_not_unlocked(wrong, enrollment, context)

    # --- presence ----------------------------------------------------------------------

    def test_fresh_material_is_not_reported_gone(self, method_factory: MethodFactory) -> None:
        context = new_context()
        enrollment = method_factory().enroll(context)
        type(method_factory()).validate_args(enrollment.args)
        answer = method_factory().check_presence(enrollment.args, context)
        assert answer is True or answer is None, f"check_presence gave {answer!r}"
        if self.checks_presence:
            assert answer is True, "checks_presence is set, but fresh material is not reported"

    def test_presence_follows_the_material(self, method_factory: MethodFactory) -> None:
        deleted, discarded = new_context(), new_context()
        first = method_factory().enroll(deleted)
        second = method_factory().enroll(discarded)
        self.delete_material(first.args, deleted)
        method_factory().discard(second.args, discarded)
        assert method_factory().check_presence(first.args, deleted) is False
        assert method_factory().check_presence(second.args, discarded) is False

    # --- secrets stay secret ------------------------------------------------------------

    def test_no_secret_in_repr_or_str(self, method_factory: MethodFactory) -> None:
        method, context = method_factory(), new_context()
        enrollment = method.enroll(context)
        method.unlock(enrollment.args, context)
        shown = "\n".join([repr(method), str(method), repr(enrollment), str(enrollment)])
        for secret in _secrets_of(method, enrollment):
            assert secret not in shown, "a secret appears in repr() or str()"

    def test_no_secret_in_logs(
        self, method_factory: MethodFactory, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        method, context = method_factory(), new_context()
        enrollment = method.enroll(context)
        type(method).validate_args(enrollment.args)
        method_factory().unlock(enrollment.args, context)
        logged = caplog.text + "\n".join(record.getMessage() for record in caplog.records)
        for secret in _secrets_of(method, enrollment):
            assert secret not in logged, "a secret appears in the log output"

    # --- packaging ----------------------------------------------------------------------

    def test_registered_by_its_entry_point(self, method_factory: MethodFactory) -> None:
        method_class = type(method_factory())
        registered = plugins.method_registry().get(method_class.name)
        assert registered is not None, (
            f"no plugin registers a method named {method_class.name!r}; "
            f"broken plugins: {plugins.broken_plugins()}"
        )
        assert registered.plugin == self.entry_point_name
        assert registered.value is method_class
        assert plugins.get_method(method_class.name) is method_class


def _assert_not_unlocked(
    method: BackupMethod, enrollment: Enrollment, context: MethodContext
) -> None:
    """``unlock`` must raise a typed error or give a different secret (the core then refuses)."""
    try:
        secret = method.unlock(enrollment.args, context)
    except WalletBackupError:
        return
    assert secret != enrollment.secret, "unlock gave the enrolled secret back"


def _secrets_of(method: BackupMethod, enrollment: Enrollment) -> list[str]:
    values = [method.option(option.name) for option in method.options if option.secret]
    found = [enrollment.secret, *(v for v in values if isinstance(v, (bytes, str)))]
    return [form for value in found for form in secret_forms(value)]


__all__ = ["MALFORMED_ARGS", "MethodConformance", "MethodFactory", "new_context"]
