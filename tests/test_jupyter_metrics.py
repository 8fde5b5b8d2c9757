"""Our metrics in jupyter_server's own Prometheus endpoint, behind its authentication."""

from __future__ import annotations

import re

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from jupyter_helpers import server_config, write_notebook


@pytest.fixture
def jp_server_config():
    return server_config()


def value(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    assert match, f"{name}{labels} not in /metrics:\n" + "\n".join(line for line in text.splitlines() if "rtc" in line)
    return float(match.group(1))


async def test_relay_and_supernode_metrics_are_in_the_servers_metrics(collab, jp_fetch, jp_root_dir, jp_http_port, jp_base_url):
    path = write_notebook(jp_root_dir, "measured.ipynb", ["1"])
    before = (await jp_fetch("metrics")).body.decode()
    assert value(before, "jupyter_rtc_supernode_documents_open") == 0
    client, _ = await collab.open(path)
    after = (await jp_fetch("metrics")).body.decode()
    assert value(after, "jupyter_rtc_supernode_documents_open") == 1
    assert value(after, "jupyter_rtc_supernode_document_events_total", '{action="loaded"}') >= 1
    assert value(after, "jupyter_rtc_relay_rooms") >= 1
    assert value(after, "jupyter_rtc_relay_clients") >= 1
    assert value(after, "jupyter_rtc_relay_updates_out_total") >= 0
    assert value(after, "jupyter_rtc_supernode_executions", '{status="running"}') == 0

    anonymous = AsyncHTTPClient()
    with pytest.raises(HTTPClientError) as refused:  # authenticate_prometheus (on by default) is honoured
        await anonymous.fetch(f"http://127.0.0.1:{jp_http_port}{jp_base_url}metrics")
    assert refused.value.code == 403
