"""Interoperability with the reference Yjs stack: node clients (yjs + y-websocket) and pycrdt clients.

Each node client is ``node clients/js/yclient.mjs URL ROOM [TOKEN]`` (its contract is the comment at
the top of that file), driven by :class:`NodeClient`. These tests fail, never skip, when node or the
node packages (``npm ci`` in clients/js) are missing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
from pathlib import Path
from typing import Any
from collections.abc import Callable

import pytest
from pycrdt import Map, Text

from rtc_relay import Relay

JS = Path(__file__).resolve().parents[1] / "clients" / "js"
SCRIPT = JS / "yclient.mjs"
VERSIONS_SCRIPT = JS / "yversions.mjs"  # one provider of y-websocket 1.x, 3.x or the 4.0 candidate
NODE_PACKAGES = ("yjs", "y-websocket", "y-protocols", "ws")
Y4 = JS / "vendor" / "y-websocket-4.0.0-rc.2"
# What each provider version needs, beside ws: (folder of node_modules, packages).
VERSION_PACKAGES = {"1": (JS, ("yjs", "y-websocket-1")), "3": (JS, ("yjs", "y-websocket")), "4": (Y4, ("@y/y",))}
DEADLINE = 5.0  # seconds, for any single wait

pytestmark = pytest.mark.timeout(20)


class NodeClientError(AssertionError):
    """The node client answered with an error event, or did not answer in time."""


class NodeClient:
    """A ``yclient.mjs`` process: send JSON commands, await JSON events with deadlines.

    Every event is kept in ``events`` in arrival order. ``request`` tags its command with an id and
    returns the answer carrying that id (raising on an ``error`` answer); ``wait_event`` returns the
    first event, from index ``since`` on, that matches a predicate.
    """

    _ids = itertools.count(1)

    def __init__(self, proc: asyncio.subprocess.Process, label: str) -> None:
        self.proc = proc
        self.label = label
        self.events: list[dict[str, Any]] = []
        self.stderr = bytearray()
        self._changed = asyncio.Event()
        self._eof = False
        self._tasks = [
            asyncio.create_task(self._read_stdout(), name=f"{label} stdout"),
            asyncio.create_task(self._read_stderr(), name=f"{label} stderr"),
        ]

    @classmethod
    async def start(cls, url: str, room: str, token: str | None = None, version: str | None = None) -> NodeClient:
        """``yclient.mjs`` (y-websocket 3.x), or with ``version`` ("1", "3", "4") ``yversions.mjs``."""
        node = shutil.which("node")
        if node is None:
            pytest.fail("node is not installed (these interop tests need node >= 18 on PATH)")
        folder, packages = (JS, NODE_PACKAGES) if version is None else VERSION_PACKAGES[version]
        missing = [p for p in packages if not (folder / "node_modules" / p / "package.json").is_file()]
        if missing:
            how = "`npm ci --ignore-scripts` there" if folder == Y4 else "`npm ci` in clients/js"
            pytest.fail(f"node packages missing in {folder}/node_modules: {missing} (run {how}, or .ci/run)")
        script = [str(SCRIPT)] if version is None else [str(VERSIONS_SCRIPT), version]
        args = [*script, url, room] + ([token] if token else [])
        proc = await asyncio.create_subprocess_exec(
            node,
            *args,
            cwd=JS,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc, f"node{'' if version is None else f' y-websocket {version}'}[{room}#{proc.pid}]")

    # -- reading ---------------------------------------------------------------------

    async def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        try:
            async for line in self.proc.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    event = {"event": "error", "message": f"not JSON on stdout: {line[:200]!r}"}
                self.events.append(event)
                self._changed.set()
        finally:
            self._eof = True
            self._changed.set()

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        async for chunk in self.proc.stderr:
            self.stderr += chunk

    def _describe(self) -> str:
        tail = "\n".join(json.dumps(e, ensure_ascii=False) for e in self.events[-15:])
        return f"{self.label} events (last 15):\n{tail}\nstderr:\n{self.stderr.decode(errors='replace')[-2000:]}"

    async def wait_event(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = DEADLINE, since: int = 0
    ) -> dict[str, Any]:
        """The first event at index >= ``since`` matching ``predicate``, waiting up to ``timeout``."""
        index = since

        async def _wait() -> dict[str, Any]:
            nonlocal index
            while True:
                while index < len(self.events):
                    event = self.events[index]
                    index += 1
                    if predicate(event):
                        return event
                if self._eof:
                    raise NodeClientError(
                        f"{self.label} exited (status {self.proc.returncode}) before the event\n{self._describe()}"
                    )
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(_wait(), timeout)
        except asyncio.TimeoutError:
            raise NodeClientError(f"{self.label}: no matching event within {timeout}s\n{self._describe()}") from None

    def send(self, command: dict[str, Any]) -> int:
        """Write one command without waiting for its answer; return its id."""
        assert self.proc.stdin is not None
        command = {**command, "id": next(self._ids)}
        self.proc.stdin.write(json.dumps(command).encode() + b"\n")
        return command["id"]

    async def answer(self, request_id: int, timeout: float = DEADLINE) -> dict[str, Any]:
        """The answer to command ``request_id``; raise if it is an error."""
        event = await self.wait_event(lambda e: e.get("id") == request_id, timeout)
        if event["event"] == "error":
            raise NodeClientError(f"{self.label}: {event['message']}\n{self._describe()}")
        return event

    async def request(self, command: dict[str, Any], timeout: float = DEADLINE) -> dict[str, Any]:
        """Send one command and return its answer."""
        return await self.answer(self.send(command), timeout)

    # -- conveniences -------------------------------------------------------------------

    async def wait_synced(self, timeout: float = DEADLINE) -> None:
        await self.wait_event(lambda e: e["event"] == "synced", timeout)

    async def text(self, name: str) -> str:
        return (await self.request({"cmd": "get", "text": [name]}))["text"][name]

    async def client_id(self) -> int:
        return (await self.request({"cmd": "get"}))["client_id"]

    async def wait_text(self, name: str, equals: str, timeout: float = DEADLINE) -> None:
        await self.request({"cmd": "wait_text", "name": name, "equals": equals, "timeout": timeout}, timeout + 1)

    async def wait_map(self, name: str, equals: dict[str, Any], timeout: float = DEADLINE) -> None:
        await self.request({"cmd": "wait_map", "name": name, "equals": equals, "timeout": timeout}, timeout + 1)

    # -- ending ---------------------------------------------------------------------------

    async def close(self, timeout: float = DEADLINE) -> int:
        """Ask the client to close; return its exit status (0 expected)."""
        if self.proc.returncode is None:
            try:
                self.send({"cmd": "close"})
                await self.proc.stdin.drain()  # type: ignore[union-attr]
            except (BrokenPipeError, ConnectionResetError):
                pass
        try:
            status = await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise NodeClientError(f"{self.label} did not exit within {timeout}s of close\n{self._describe()}") from None
        finally:
            await self._reap()
        return status

    async def kill(self) -> None:
        """SIGKILL: the relay sees the TCP connection drop, with no close frame or awareness removal."""
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()
        await self._reap()

    async def _reap(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def assert_ok_exit(status: int, client: NodeClient) -> None:
    assert status == 0, f"{client.label} exited with {status}\n{client._describe()}"


# -- tests ----------------------------------------------------------------------------------------


async def test_node_and_pycrdt_clients_converge_on_concurrent_text_and_map_edits(relay: Relay, connect, node_client):
    room = "interop-converge"
    n1, n2 = await node_client(relay.url, room), await node_client(relay.url, room)
    p1, p2 = await connect(relay.url + room), await connect(relay.url + room)
    await asyncio.gather(n1.wait_synced(), n2.wait_synced(), p1.wait_synced(), p2.wait_synced())
    t1, t2 = p1.doc.get("t", type=Text), p2.doc.get("t", type=Text)
    m1, m2 = p1.doc.get("m", type=Map), p2.doc.get("m", type=Map)

    words = ["héllo 😀 中文", "ça va? ñ", "𝄞 music", "日本語テキスト", "plain ascii", "👩‍👩‍👧 family"]
    inserts = {who: [f"<{who}:{i}:{w}>" for i, w in enumerate(words)] for who in ("n1", "n2", "p1", "p2")}

    # Fire every node edit without waiting, and edit the pycrdt docs meanwhile: all concurrent.
    # Map: each client first writes the contested key "shared", then its own keys, so that once
    # a client's last own key is seen, its "shared" write has been seen too.
    pending = []
    for node, who in ((n1, "n1"), (n2, "n2")):
        pending.append((node, node.send({"cmd": "map_set", "name": "m", "key": "shared", "value": who})))
    m1["shared"], m2["shared"] = "p1", "p2"
    for i in range(len(words)):
        for node, who in ((n1, "n1"), (n2, "n2")):
            pending.append((node, node.send({"cmd": "insert", "name": "t", "index": 0, "text": inserts[who][i]})))
            pending.append((node, node.send({"cmd": "map_set", "name": "m", "key": f"{who}-{i}", "value": words[i]})))
        # pycrdt: alternately at the start and at the end (pycrdt's own index units, see test below)
        for text, m, who in ((t1, m1, "p1"), (t2, m2, "p2")):
            if i % 2:
                text.insert(0, inserts[who][i])
            else:
                text += inserts[who][i]
            m[f"{who}-{i}"] = {"word": words[i], "i": i}
        await asyncio.sleep(0)  # let some messages cross while the others are still typing
    for node, request_id in pending:
        await node.answer(request_id)

    everything = [s for strings in inserts.values() for s in strings]
    all_keys = {"shared"} | {f"{who}-{i}" for who in inserts for i in range(len(words))}
    await p1.wait_for(lambda: all(s in str(t1) for s in everything) and set(m1.keys()) == all_keys)
    final_text, final_map = str(t1), m1.to_py()
    assert len(final_text) == len("".join(everything))
    assert final_map["shared"] in inserts  # one of the four concurrent writes won, everywhere
    await asyncio.gather(
        n1.wait_text("t", final_text),
        n2.wait_text("t", final_text),
        n1.wait_map("m", final_map),
        n2.wait_map("m", final_map),
        p2.wait_for(lambda: str(t2) == final_text and m2.to_py() == final_map),
    )
    state = await n2.request({"cmd": "get", "text": ["t"], "map": ["m"]})
    assert state["text"]["t"] == final_text
    assert state["map"]["m"] == final_map


async def test_node_utf16_offsets_land_where_yjs_puts_them(relay: Relay, connect, node_client):
    """Yjs counts UTF-16 units: inserting at 3 after "a😀" (1 + 2 units) lands right after the emoji."""
    n = await node_client(relay.url, "interop-utf16")
    p = await connect(relay.url + "interop-utf16")
    await asyncio.gather(n.wait_synced(), p.wait_synced())
    t = p.doc.get("t", type=Text)
    t += "a😀b中c"
    await n.wait_text("t", "a😀b中c")
    await n.request({"cmd": "insert", "name": "t", "index": 3, "text": "X"})  # after the emoji
    await n.request({"cmd": "delete", "name": "t", "index": 5, "length": 1})  # the 中
    await n.wait_text("t", "a😀Xbc")
    await p.wait_for(lambda: str(t) == "a😀Xbc")


async def test_node_client_joining_late_gets_the_full_state(relay: Relay, connect, node_client):
    room = "interop-late"
    p = await connect(relay.url + room)
    await p.wait_synced()
    t = p.doc.get("t", type=Text)
    m = p.doc.get("m", type=Map)
    for i in range(300):
        t += f"{i}:é😀中,"
    for i in range(50):
        m[f"k{i}"] = f"v{i} ✓"
    t.insert(0, "start|")
    expected_text, expected_map = str(t), m.to_py()
    # Barrier: once another client has seen it all, the relay holds it all.
    witness = await connect(relay.url + room)
    witness_t, witness_m = witness.doc.get("t", type=Text), witness.doc.get("m", type=Map)
    await witness.wait_for(lambda: str(witness_t) == expected_text and witness_m.to_py() == expected_map)

    n = await node_client(relay.url, room)
    await n.wait_synced()
    # The first sync already brought everything: no waiting for later updates.
    state = await n.request({"cmd": "get", "text": ["t"], "map": ["m"]})
    assert state["synced"] is True
    assert state["text"]["t"] == expected_text
    assert state["map"]["m"] == expected_map

    # and it keeps following live edits
    t += "|end"
    await n.wait_text("t", expected_text + "|end")


async def test_awareness_flows_both_ways_and_leaves_with_the_node_client(relay: Relay, connect, node_client):
    room = "interop-awareness"
    p = await connect(relay.url + room)
    await p.wait_synced()
    n = await node_client(relay.url, room)
    await n.wait_synced()
    node_id = await n.client_id()

    node_state = {"user": {"name": "node ✓", "color": "#ff0000"}, "cursor": None}
    await n.request({"cmd": "awareness", "state": node_state})
    await p.wait_for(lambda: p.awareness.states.get(node_id) == node_state)

    py_state = {"user": {"name": "pycrdt 😀"}}
    p.awareness.set_local_state(py_state)
    py_id = str(p.awareness.client_id)
    seen = await n.wait_event(lambda e: e["event"] == "awareness" and e["states"].get(py_id) == py_state)
    assert seen["states"][str(node_id)] == node_state

    assert_ok_exit(await n.close(), n)
    await p.wait_for(lambda: node_id not in p.awareness.states)


async def test_awareness_of_a_killed_node_client_is_removed_by_the_relay(relay: Relay, connect, node_client):
    """No close frame, no awareness removal from the client: the relay itself must clear its presence."""
    room = "interop-awareness-kill"
    p = await connect(relay.url + room)
    await p.wait_synced()
    n = await node_client(relay.url, room)
    await n.wait_synced()
    node_id = await n.client_id()
    await n.request({"cmd": "awareness", "state": {"user": "doomed"}})
    await p.wait_for(lambda: p.awareness.states.get(node_id) == {"user": "doomed"})
    await n.kill()
    await p.wait_for(lambda: node_id not in p.awareness.states)


async def test_node_client_without_token_sees_close_code_4401(start_relay, node_client):
    relay = await start_relay(token=["secret"])
    refused = await node_client(relay.url, "interop-auth")
    closed = await refused.wait_event(lambda e: e["event"] == "closed")
    assert closed["code"] == 4401, closed
    assert closed["reason"] == "a valid token is required"
    assert not any(e["event"] == "synced" for e in refused.events)
    # y-websocket >= 3.1 treats 4400-4499 as permanent and stops reconnecting.
    await refused.wait_event(lambda e: e["event"] == "stopped" and e["code"] == 4401)

    # the same client with the token gets in (the token travels as ?token=...)
    admitted = await node_client(relay.url, "interop-auth", token="secret")
    await admitted.wait_synced()
    await admitted.request({"cmd": "insert", "name": "t", "index": 0, "text": "authorised ✓"})
    assert_ok_exit(await admitted.close(), admitted)


async def test_node_client_reports_errors_instead_of_hanging(relay: Relay, node_client):
    """The driver's own contract: bad commands and unmet waits answer with errors, promptly."""
    n = await node_client(relay.url, "interop-errors")
    await n.wait_synced()
    with pytest.raises(NodeClientError, match="unknown command"):
        await n.request({"cmd": "no_such_command"})
    with pytest.raises(NodeClientError, match='"index" must be a number'):
        await n.request({"cmd": "insert", "name": "t", "text": "x"})
    with pytest.raises(NodeClientError, match="timeout after 0.2s"):
        await n.request({"cmd": "wait_text", "name": "t", "equals": "never", "timeout": 0.2})
    assert_ok_exit(await n.close(), n)


async def test_node_client_sees_going_away_when_the_relay_stops(start_relay, node_client):
    relay = await start_relay()
    n = await node_client(relay.url, "interop-shutdown")
    await n.wait_synced()
    await relay.stop()
    closed = await n.wait_event(lambda e: e["event"] == "closed")
    assert (closed["code"], closed["reason"]) == (1001, "the relay is shutting down"), closed


async def test_a_joiner_sees_everyone_present_arrive_again_after_the_presence_renewal(start_relay, node_client):
    """An interface that listens only for presence *changes* (JupyterLab's collaborators panel) and
    started after the join still gets one: the relay tells the joiner the others left, and the others
    to renew, which y-websocket answers by announcing itself again with a newer clock."""
    relay = await start_relay(presence_renewal=0.3)
    room = "interop-renewal"
    a = await node_client(relay.url, room)
    await a.wait_synced()
    a_id = str(await a.client_id())
    await a.request({"cmd": "awareness", "state": {"user": {"name": "Ada"}}})
    b = await node_client(relay.url, room)
    await b.wait_synced()
    await b.wait_event(lambda e: e["event"] == "awareness" and a_id in e["states"])
    since = len(b.events)
    gone = await b.wait_event(lambda e: e["event"] == "awareness" and a_id not in e["states"], timeout=5, since=since)
    back = await b.wait_event(
        lambda e: e["event"] == "awareness" and e["states"].get(a_id) == {"user": {"name": "Ada"}},
        timeout=5,
        since=b.events.index(gone) + 1,
    )
    assert back["states"][a_id] == {"user": {"name": "Ada"}}
    # The renewal is repeated (ROUNDS in all), for an interface that started listening later still.
    gone_again = await b.wait_event(
        lambda e: e["event"] == "awareness" and a_id not in e["states"], timeout=5, since=b.events.index(back) + 1
    )
    await b.wait_event(
        lambda e: e["event"] == "awareness" and e["states"].get(a_id) == {"user": {"name": "Ada"}},
        timeout=5,
        since=b.events.index(gone_again) + 1,
    )
    # Ada's own state never changed, and she is still there for everyone.
    state = await a.request({"cmd": "get"})
    assert state["synced"] is True
    c = await node_client(relay.url, room)
    await c.wait_event(lambda e: e["event"] == "awareness" and a_id in e["states"], timeout=5)


@pytest.mark.parametrize("version", ["1", "3", "4"])
async def test_a_node_client_joining_a_writers_room_gets_the_kept_encoding_and_the_updates_since(
    relay: Relay, connect, node_client, version
):
    """y-websocket 1.x, 3.x and 4.x take a SyncStep2 kept for an earlier joiner followed by the writer's
    updates made since (rtc_relay.join_state): the client ends with the document, and follows on."""
    from test_shared_document import WriterPolicy, update_made_elsewhere

    policy = WriterPolicy()
    relay.add_policy(policy)
    channel = relay.open_direct("owned-node", label="writer")
    channel.hold("test")
    await channel.ready(timeout=5)
    doc = policy.docs["owned-node"]
    first = await connect(relay.url + "owned-node")
    await first.wait_synced()  # its SyncStep2 is kept
    text = doc.get("t", type=Text)
    text.insert(0, "é😀 ")  # the writer's transaction
    channel.apply(update_made_elsewhere(doc, lambda t: t.insert(0, "中 stage: ")))
    assert str(text) == "中 stage: é😀 from the file"
    kept = relay.metrics.joins_from_kept_state

    n = await node_client(relay.url, "owned-node", version=version)
    await n.wait_synced()
    await n.wait_text("t", "中 stage: é😀 from the file")
    assert relay.metrics.joins_from_kept_state == kept + 1
    text.insert(0, "> ")
    await n.wait_text("t", "> 中 stage: é😀 from the file")
    channel.close()
