"""The device cases of ``remote_device_cases`` against the loopback fake of the service."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import service_fake
from quick_methods import PASS
from remote_device_cases import *  # noqa: F403 - the kit's tests run here
from remote_device_cases import CLIENT
from service_fake import Endpoint


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    with service_fake.running(tmp_path / "service") as fake:
        yield fake.endpoint()


def test_the_cli_report_copes_without_a_custodian_share(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from walletbackup.cli.report import KEPT, report_recovered
    from walletbackup.results import Recovered

    recovered = Recovered("w", PASS, "00" * 16, 1, CLIENT, None)
    report_recovered(recovered, None, None, True, True)
    assert json.loads(capsys.readouterr().out)["custodian_share"] is None
    report_recovered(recovered, None, None, True, False)
    assert f"custodian_share: {KEPT}" in capsys.readouterr().out
    report_recovered(recovered, "client.bin", None, False, False)
    assert f"custodian share {KEPT}" in capsys.readouterr().out
