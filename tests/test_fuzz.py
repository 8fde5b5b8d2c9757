"""Fuzzing: schemathesis drives every endpoint of spec.json on a running Jupyter server (our extensions)
and a running standalone relay with generated requests (valid and invalid ones), and checks that no
answer is a 5xx or contradicts the document (status, content type, headers, body schema)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.core.failures import FailureGroup

from jupyter_helpers import server_config, write_notebook

SPEC = Path(__file__).resolve().parents[1] / "spec.json"
RELAY_ONLY = {"/health", "/metrics", "/{room}"}  # served by the standalone relay alone
DOCUMENTS = {"/api/rtc/rooms/{room}/update", "/api/rtc/rooms/{room}/json"}
BOTH = {"/api/rtc/rooms", "/api/collaboration/room/{room}", *DOCUMENTS}  # served by both
# A state vector or an update is valid only when it decodes as Yjs, which no schema can say: a well-formed
# one that does not decode is rightly refused with 400.
UNDECIDABLE = {("/api/rtc/rooms/{room}/update", "POST"), ("/api/rtc/rooms/{room}/update", "GET")}
# A plain GET of a websocket path rightly answers 426 (400 in Jupyter) whatever the room name: names are
# checked at the upgrade, and refused with a close code (schema/close-codes.json).
WEBSOCKETS = {
    "/{room}",
    "/api/collaboration/room/{room}",
    "/api/rtc/notebooks/{path}/events/ws",
    "/api/rtc/classrooms/socket/{session_id}",
}
# Event streams run until their client leaves: a valid ?timeout= (or none) is replaced by a short one so each
# request ends; an invalid one is left for the server to refuse.
STREAMS = {"/api/rtc/notebooks/{path}/events", "/api/rtc/notebooks/{path}/kernel-messages"}
STREAM_TIMEOUT = "0.2"
# Invalid names for /{room} include "health" and "metrics": those paths answer as the endpoints of those names.
NO_NEGATIVE = {"/{room}"}
# Likewise a schema-valid upload may still be an invalid notebook: its `content` is checked against nbformat's own
# schema (answered 400 saying why), which spec.json does not repeat.
UNDECIDABLE.add(("/api/rtc/notebooks/{path}", "PUT"))
# And a schema-valid `url` to mirror a classroom from must still be an http(s) URL of a server: anything else is
# refused with 400 (an http(s) URL of no server is a 502, within the mirror timeout).
UNDECIDABLE.add(("/api/rtc/classrooms/remote", "POST"))
EXAMPLES = 12  # per operation and generation mode: the whole run stays within a few seconds

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def jp_server_config(tmp_path):
    return server_config(journal_path=str(tmp_path / "journal.sqlite"))


async def test_no_documented_endpoint_answers_5xx_or_contradicts_the_document(
    collab, jp_serverapp, jp_http_port, jp_base_url, jp_root_dir, relay
):
    write_notebook(jp_root_dir, "fuzz.ipynb", ["1 + 1"])
    await jp_serverapp.extension_manager.start_all_extensions()  # as a real server does (the shared tables)
    jupyter = f"http://127.0.0.1:{jp_http_port}{jp_base_url}".rstrip("/")
    standalone = relay.url.replace("ws://", "http://").rstrip("/")
    auth = {"Authorization": f"token {jp_serverapp.identity_provider.token}"}
    failures = await asyncio.to_thread(_fuzz, json.loads(SPEC.read_text()), jupyter, standalone, auth)
    assert not failures, "\n\n".join(failures)


def _fuzz(spec: dict, jupyter: str, standalone: str, auth: dict[str, str]) -> list[str]:
    """Run every operation against the server(s) serving it; return one text per failing operation."""
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    session = requests.Session()  # one connection pool for the whole run
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} == set(spec["paths"]), "schemathesis must see every path"
    for operation in operations:
        bases = [standalone] if operation.path in RELAY_ONLY else [jupyter]
        if operation.path in BOTH:
            bases.append(standalone)
        for base in bases:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                if mode is GenerationMode.NEGATIVE and operation.path in NO_NEGATIVE:
                    continue
                try:
                    _run(operation, mode, base, auth, session)
                except Unsatisfiable:  # nothing to make invalid (no parameter, no body)
                    assert mode is GenerationMode.NEGATIVE, operation.path
                except (Exception, FailureGroup) as exc:  # one report per operation, server and mode
                    failures.append(f"{operation.method.upper()} {operation.path} on {base} ({mode.value}): {exc}")
    session.close()
    return failures


def _run(operation, mode: GenerationMode, base: str, auth: dict[str, str], session: requests.Session) -> None:
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case) -> None:
        excluded = [positive_data_acceptance, negative_data_rejection] if operation.path in WEBSOCKETS else []
        if (operation.path, operation.method.upper()) in UNDECIDABLE:
            excluded.append(positive_data_acceptance)
        if case.headers:  # a Content-Length of its own is malformed HTTP, which tornado refuses (a bare 400)
            case.headers = {k: v for k, v in case.headers.items() if k.lower() != "content-length"}
        if operation.path in STREAMS:
            case.query = {**(case.query or {})}
            if _valid_timeout(case.query.get("timeout")):
                case.query["timeout"] = STREAM_TIMEOUT
        case.call_and_validate(base_url=base, headers=auth, timeout=30, excluded_checks=excluded, session=session)

    check()


def _valid_timeout(value) -> bool:
    """Whether the server takes ``value`` as a stream's timeout (absent: it never ends)."""
    if value is None:
        return True
    try:
        return 0 < float(value) <= 86400
    except (TypeError, ValueError):
        return False
