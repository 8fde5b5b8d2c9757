"""Every document type registered with jupyter_ydoc, in a real jupyter_server with real Yjs clients (node).

jupyterlab-chat's ``chat`` type (``.chat`` files) opens, takes a message written by a client into
the file, and takes a change on disk to the clients; a type that a package registers through the
``jupyter_ydoc`` entry points after the server started works the same way; a type nobody
registered gets the frontend's load error, naming it. jupyterlab-chat's own server extension finds
open chats through the API of jupyter-collaboration that we answer.
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers import close_code_of, eventually, raw_ws
from jupyter_helpers import EXTENSIONS, server_config

pytestmark = pytest.mark.timeout(60)

DEADLINE = 10.0  # seconds, for any one wait


@pytest.fixture
def jp_server_config():
    config = server_config()
    config["ServerApp"]["jpserver_extensions"] = {**EXTENSIONS, "jupyterlab_chat": True}
    return config


def chat_file(messages: list[dict], users: dict | None = None) -> str:
    """A ``.chat`` file as jupyterlab-chat writes it."""
    return json.dumps({"messages": messages, "users": users or {}, "attachments": {}, "metadata": {}}, indent=2)


def message(id_: str, body: str, sender: str, at: float) -> dict:
    return {"type": "msg", "id": id_, "body": body, "sender": sender, "time": at, "raw_time": False}


def disk_chat(path: Path) -> dict | None:
    """The chat file on disk, or None while it is being written."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


async def test_a_chat_file_opens_saves_a_clients_message_and_takes_a_change_on_disk(
    collab, jp_root_dir, yjs_client, jp_serverapp
):
    path = jp_root_dir / "team.chat"
    alice = {"username": "alice", "name": "Alice", "display_name": "Alice A"}
    path.write_text(chat_file([message("m1", "first, from disk", "alice", 1000.0)], {"alice": alice}))

    session = await collab.session("team.chat", "text", "chat")
    assert session.room == f"text:chat:{session.file_id}"
    client = await yjs_client(session.room)
    # the file's message and user, in the shape jupyterlab-chat's frontend reads
    await client.request({"cmd": "wait_at", "path": ["messages", 0, "body"], "equals": "first, from disk"})
    await client.request({"cmd": "wait_at", "path": ["users", "alice"], "equals": alice})

    # a message written by the client (a Y.Map, as the frontend writes it) is saved into the file
    sent = {"type": "msg", "id": "m2", "body": "hello from a client", "sender": "bob", "time": 1.0, "raw_time": True}
    await client.request({"cmd": "array_push", "name": "messages", "values": [sent], "as_maps": True})

    def saved() -> dict | None:
        chat = disk_chat(path)
        return chat if chat and len(chat["messages"]) == 2 and chat["metadata"].get("id") else None

    await eventually(lambda: saved() is not None, timeout=DEADLINE, what="the client's message in team.chat")
    on_disk = saved()
    assert [m["body"] for m in on_disk["messages"]] == ["first, from disk", "hello from a client"]
    assert on_disk["users"] == {"alice": alice}
    chat_id = on_disk["metadata"].get("id")
    assert chat_id  # jupyterlab-chat gives every chat an id once it is open

    # jupyterlab-chat's server extension follows the room and finds the live chat by its id
    chat_manager = jp_serverapp.web_app.settings["chat_manager"]
    await eventually(lambda: chat_manager.get(chat_id) is not None, timeout=DEADLINE, what="the chat manager to see it")
    live = chat_manager.get(chat_id)
    assert [m.body for m in live.get_messages()] == ["first, from disk", "hello from a client"]
    page_config = jp_serverapp.web_app.settings["page_config_data"]
    assert page_config["serverSessionRtcInfo"]["enabled"] is True  # the chat frontend uses the shared document

    # a change made on disk by another program reaches the client
    changed = dict(on_disk)
    changed["messages"] = on_disk["messages"] + [message("m3", "appended on disk", "carol", time.time())]
    path.write_text(json.dumps(changed, indent=2))
    await client.request(
        {"cmd": "wait_at", "path": ["messages", 2, "body"], "equals": "appended on disk", "timeout": DEADLINE},
        DEADLINE + 1,
    )
    state = await client.request({"cmd": "get_at", "path": ["state", "path"]})
    assert state["value"] == "team.chat"  # the server's state survives the chat type's set()


async def test_an_empty_chat_file_opens_as_an_empty_chat(collab, jp_root_dir, yjs_client):
    (jp_root_dir / "new.chat").write_text("")
    session = await collab.session("new.chat", "text", "chat")
    client = await yjs_client(session.room)
    sent = {"type": "msg", "id": "n1", "body": "the first word", "sender": "bob", "time": 1.0, "raw_time": True}
    await client.request({"cmd": "array_push", "name": "messages", "values": [sent], "as_maps": True})

    def bodies() -> list[str]:
        return [m.get("body") for m in (disk_chat(jp_root_dir / "new.chat") or {}).get("messages", [])]

    await eventually(lambda: bodies() == ["the first word"], timeout=DEADLINE, what="the message in new.chat")


LINES_MODULE = '''
"""A document type of its own: a file held as a Y.Array of lines."""

from functools import partial

from jupyter_ydoc.ybasedoc import YBaseDoc
from pycrdt import Array


class YLines(YBaseDoc):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._ydoc["lines"] = self._ylines = Array()

    @property
    def version(self):
        return "1.0.0"

    def get(self):
        return "".join(line + "\\n" for line in self._ylines.to_py())

    def set(self, value):
        with self._ydoc.transaction():
            self._ylines.clear()
            self._ylines.extend(value.splitlines())

    def observe(self, callback):
        self.unobserve()
        self._subscriptions[self._ystate] = self._ystate.observe(partial(callback, "state"))
        self._subscriptions[self._ylines] = self._ylines.observe(partial(callback, "lines"))
'''


@pytest.fixture
def lines_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A package installed beside the running server (on ``sys.path``) that registers the type ``lines``
    through a ``jupyter_ydoc`` entry point, as any package does; its name."""
    site = tmp_path / "site"
    (site / "rtc_lines_doc-1.0.dist-info").mkdir(parents=True)
    (site / "rtc_lines_doc.py").write_text(textwrap.dedent(LINES_MODULE))
    (site / "rtc_lines_doc-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: rtc-lines-doc\nVersion: 1.0\n"
    )
    (site / "rtc_lines_doc-1.0.dist-info" / "entry_points.txt").write_text(
        "[jupyter_ydoc]\nlines = rtc_lines_doc:YLines\n"
    )
    monkeypatch.syspath_prepend(str(site))
    yield "rtc_lines_doc"
    sys.modules.pop("rtc_lines_doc", None)


async def test_a_type_registered_by_another_package_opens_collaborates_and_saves(
    collab, jp_root_dir, yjs_client, lines_package
):
    path = jp_root_dir / "todo.lines"
    path.write_text("buy milk\nwrite tests\n")
    session = await collab.session("todo.lines", "text", "lines")
    first, second = await yjs_client(session.room), await yjs_client(session.room)
    assert (await first.request({"cmd": "get", "array": ["lines"]}))["array"]["lines"] == ["buy milk", "write tests"]

    await first.request({"cmd": "array_push", "name": "lines", "values": ["ship it"]})
    await second.request({"cmd": "wait_at", "path": ["lines", 2], "equals": "ship it"})
    assert (await second.request({"cmd": "get", "array": ["lines"]}))["array"]["lines"] == [
        "buy milk",
        "write tests",
        "ship it",
    ]
    await eventually(
        lambda: path.read_text() == "buy milk\nwrite tests\nship it\n", timeout=DEADLINE, what="todo.lines saved"
    )

    path.write_text("buy milk\nwrite tests\nship it\nrest\n")  # edited on disk
    await second.request({"cmd": "wait_at", "path": ["lines", 3], "equals": "rest", "timeout": DEADLINE}, DEADLINE + 1)
    assert sys.modules[lines_package].YLines.__name__ == "YLines"  # the package's class was the one loaded


async def test_a_type_jupyter_ydoc_registers_itself_works_too(collab, jp_root_dir, yjs_client):
    path = jp_root_dir / "notes.md"
    path.write_text("# Notes\n")
    session = await collab.session("notes.md", "text", "unicode")  # jupyter_ydoc's YUnicode
    client = await yjs_client(session.room)
    await client.wait_text("source", "# Notes\n", DEADLINE)
    await client.request({"cmd": "insert", "name": "source", "index": 8, "text": "- one\n"})
    await eventually(lambda: path.read_text() == "# Notes\n- one\n", timeout=DEADLINE, what="notes.md saved")


async def test_an_unknown_type_gets_the_frontends_load_error_naming_it(collab, jp_root_dir, caplog):
    (jp_root_dir / "data.nosuch").write_text("whatever")
    session = await collab.session("data.nosuch", "text", "nosuchtype")  # answered, as the frontend expects
    assert session.status in (200, 201) and session.session_id
    ws = await raw_ws(collab.url(session.room, session.session_id), additional_headers=collab.auth_header)
    assert await close_code_of(ws, timeout=DEADLINE) == 4400  # the frontend's "File Load Error" dialog
    assert ws.protocol.close_rcvd.reason == "data.nosuch: no document type 'nosuchtype' is registered"
    logged = [
        r.getMessage() for r in caplog.records if r.name == "supernode.documents" and "nosuchtype" in r.getMessage()
    ]
    assert logged and "registered: " in logged[0] and "chat" in logged[0] and "notebook" in logged[0], logged
    assert all(r.exc_info is None for r in caplog.records if r.levelname in ("WARNING", "ERROR"))
