"""`python -m rtc_relay`: options, environment, start-up line, refusals."""

from __future__ import annotations

import subprocess
import sys

from pycrdt import Text

from rtc_relay.config import RelayConfig
from dataclasses import fields


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "rtc_relay", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def test_help_documents_every_option_and_its_environment_variable():
    out = run_cli("--help").stdout
    for f in fields(RelayConfig):
        assert "--" + f.name.replace("_", "-") in out
        assert f"RTC_RELAY_{f.name.upper()}" in out.replace("\n", "").replace(" ", "")


def test_refuses_a_public_address_without_a_token_and_says_why():
    result = run_cli("--host", "0.0.0.0", "--store", "memory")
    assert result.returncode == 2
    assert "no token" in result.stderr and "--allow-unauthenticated" in result.stderr


async def test_environment_variables_configure_the_relay(relay_process, connect, tmp_path):
    db = tmp_path / "env.sqlite"
    proc = await relay_process(env={"RTC_RELAY_STORE": str(db), "RTC_RELAY_TOKEN": "a,b"})
    client = await connect(proc.url + "room?token=b")
    await client.wait_synced()
    client.doc.get("t", type=Text).insert(0, "x")
    client.save(1)
    await client.wait_for(lambda: client.notices)
    assert db.exists()
    refused = await connect(proc.url + "room")
    assert await refused.wait_closed() == 4401
    assert await proc.stop() == 0


async def test_default_store_is_sqlite_in_the_data_directory(relay_process, tmp_path):
    proc = await relay_process("--data-dir", str(tmp_path / "data"))
    assert await proc.stop() == 0
    assert (tmp_path / "data" / "relay.sqlite").exists()
