"""A small y-websocket client of the Jupyter collaboration API, on ``websockets`` and pycrdt.

Contracts:
- ``NotebookClient(base_url, token, path)``; ``await client.open(deadline)`` does what JupyterLab does
  to open a notebook: ``PUT /api/collaboration/session/{path}`` with ``{"format": "json", "type":
  "notebook"}``, then the websocket ``/api/collaboration/room/json:notebook:{fileId}?sessionId=…``
  (token in the Authorization header, no compression, no size limit), sends SyncStep1 with its empty
  state vector and returns once a SyncStep2 has arrived and been applied to ``client.doc``. It returns
  the timings in ms from the PUT's start: ``put_ms`` (response read), ``ws_ms`` (handshake done),
  ``step2_ms`` (SyncStep2 received), and ``step2_bytes``, ``apply_ms`` (client-side apply, not in
  ``step2_ms``). ``deadline`` is a ``time.monotonic()`` value; past it, ``TimeoutError``.
- ``NotebookClient(..., outputs=N)``: the file's number of outputs (all cells). Once the doc holds ``N``
  outputs and its ``state`` map no ``loading`` flag (checked after SyncStep2 and after every later update:
  a server loading in stages sends the large outputs as updates after SyncStep2, a long stream in
  several, and says ``loading`` until the last), ``whole_ms`` is the ms from the PUT's start to the receipt
  of the message that completed it (for a server that sends everything in SyncStep2, its ``step2_ms``);
  ``await client.whole(deadline)`` waits for it and returns it. Without ``outputs``, never whole.
- While open, a reader task answers the server's SyncStep1 with a SyncStep2 of ``doc`` (as y-protocols
  clients do), applies SyncStep2 and update messages to ``doc``, and logs every message received as
  ``(ms since PUT start, description, size)`` in ``client.log`` (first ``LOG_LIMIT`` messages).
- ``client.cell_count()``, ``client.cell_id(i)``, ``client.first_source()``: what the doc holds
  (``cells`` array of maps, as jupyter_ydoc lays it out).
- ``await client.edit_and_save(deadline)``: inserts ``EDIT_MARK`` at the start of the first cell's
  source, sends that update, then the custom save request ``2, varString("save"), varUint(id)``,
  and waits for the ``{"type": "save", "responseTo": id, "status": …}`` reply. "skipped" is retried
  every ``SKIP_RETRY_S`` until "success" or "failed". Returns ``{"save_ms": ms from the first save
  request to the final reply, "status": last status, "skipped": retries}``.
- ``await client.close()``: closes the websocket (bounded wait) and stops the reader.
The reader's failure (connection closed, bad message) is raised from the next ``open``/``edit_and_save``
wait instead of the timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import urllib.request

# What a first open would otherwise import inside its timed window, imported with this module: the
# late joiner's process (nb_peer.py) is new in every run, and its first PUT and handshake took ~13 ms
# more than a warm client's, the same for both servers (a person's browser has them loaded).
import anyio._backends._asyncio  # noqa: F401  (pycrdt's first lock imports it)
import encodings.idna  # noqa: F401  (the host name's codec, looked up by the first connection)
from websockets.asyncio.client import connect as ws_connect  # (websockets.connect imports it lazily)
from pycrdt import Array, Decoder, Doc, Encoder, Map, create_sync_message, create_update_message, handle_sync_message

MSG_SYNC, MSG_AWARENESS, MSG_CUSTOM = 0, 1, 2
SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE = 0, 1, 2
EDIT_MARK = "#"
SKIP_RETRY_S = 0.05
LOG_LIMIT = 20


def describe(message: bytes) -> str:
    """A short label of a y-websocket message, for the message-order notes."""
    if not message:
        return "empty"
    kind = message[0]
    if kind == MSG_SYNC and len(message) > 1:
        return {SYNC_STEP1: "sync-step1", SYNC_STEP2: "sync-step2", SYNC_UPDATE: "sync-update"}.get(
            message[1], f"sync-{message[1]}")
    if kind == MSG_AWARENESS:
        return "awareness"
    if kind == MSG_CUSTOM:
        try:
            return "custom:" + Decoder(message[1:]).read_var_string()[:80]
        except Exception:
            return "custom"
    return f"type-{kind}"


class NotebookClient:
    def __init__(self, base_url: str, token: str, path: str, outputs: int | None = None) -> None:
        self.base_url = base_url
        self.outputs = outputs
        self._whole = asyncio.Event()
        self.whole_ms: float | None = None
        self.token = token
        self.path = path
        self.doc = Doc()
        self.log: list[tuple[float, str, int]] = []
        self.ws = None
        self._reader: asyncio.Task | None = None
        self._t0 = 0.0
        self._step2 = asyncio.Event()
        self._step2_at = 0.0
        self._step2_bytes = 0
        self._apply_ms = 0.0
        self._save_replies: asyncio.Queue[dict] = asyncio.Queue()
        self._save_id = 0
        self.updates_received = 0

    # -- opening ---------------------------------------------------------------------------------

    def _put_session(self, timeout: float) -> dict:
        url = f"{self.base_url}/api/collaboration/session/{urllib.parse.quote(self.path)}"
        body = json.dumps({"format": "json", "type": "notebook"}).encode()
        request = urllib.request.Request(url, data=body, method="PUT", headers={
            "Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    async def open(self, deadline: float) -> dict:
        self._t0 = time.perf_counter()
        session = await asyncio.wait_for(asyncio.to_thread(self._put_session, _left(deadline)), _left(deadline))
        put_ms = self._ms()
        room = f"json:notebook:{session['fileId']}"
        query = urllib.parse.urlencode({"sessionId": session["sessionId"]})
        url = f"{self.base_url.replace('http', 'ws', 1)}/api/collaboration/room/{room}?{query}"
        self.ws = await ws_connect(
            url, additional_headers={"Authorization": f"token {self.token}"}, max_size=None,
            compression=None, ping_interval=None, open_timeout=_left(deadline), close_timeout=2)
        ws_ms = self._ms()
        self._reader = asyncio.create_task(self._read())
        await self.ws.send(create_sync_message(self.doc))  # SyncStep1, empty state vector
        await self._wait(self._step2.wait(), deadline, "SyncStep2")
        return {"put_ms": put_ms, "ws_ms": ws_ms, "step2_ms": (self._step2_at - self._t0) * 1000,
                "step2_bytes": self._step2_bytes, "apply_ms": self._apply_ms, "file_id": session["fileId"]}

    def _check_whole(self, at: float) -> None:
        # The cheap test first: while the server says it is loading, the outputs are not counted (a
        # count walks every cell; after each of a staged load's messages it took 40 % of this client's time).
        if self.outputs is None or self._whole.is_set() or self.doc.get("state", type=Map).get("loading"):
            return
        if self.output_count() != self.outputs:
            return
        self.whole_ms = (at - self._t0) * 1000
        self._whole.set()

    async def whole(self, deadline: float) -> float:
        """Wait until the doc holds all the file's outputs; the ms from the PUT's start until it did."""
        await self._wait(self._whole.wait(), deadline, "the whole notebook")
        return self.whole_ms

    def _ms(self) -> float:
        return (time.perf_counter() - self._t0) * 1000

    async def _read(self) -> None:
        async for message in self.ws:
            at = time.perf_counter()
            if isinstance(message, str):
                message = message.encode()
            if len(self.log) < LOG_LIMIT:
                self.log.append((round((at - self._t0) * 1000, 2), describe(message), len(message)))
            kind = message[0] if message else -1
            if kind == MSG_SYNC and message[1] == SYNC_STEP2:
                t = time.perf_counter()
                handle_sync_message(message[1:], self.doc)
                if not self._step2.is_set():
                    self._step2_at, self._step2_bytes = at, len(message)
                    self._apply_ms = (time.perf_counter() - t) * 1000
                    self._step2.set()
                self._check_whole(at)
            elif kind == MSG_SYNC and message[1] == SYNC_STEP1:
                reply = handle_sync_message(message[1:], self.doc)
                if reply is not None:
                    await self.ws.send(reply)
            elif kind == MSG_SYNC and message[1] == SYNC_UPDATE:
                handle_sync_message(message[1:], self.doc)
                self.updates_received += 1
                if self._step2.is_set():
                    self._check_whole(at)
            elif kind == MSG_CUSTOM:
                try:
                    reply = json.loads(Decoder(message[1:]).read_var_string())
                except ValueError:
                    continue
                if isinstance(reply, dict) and reply.get("type") == "save":
                    self._save_replies.put_nowait(reply)

    async def _wait(self, aw, deadline: float, what: str):
        """Await ``aw`` until ``deadline``; a finished reader (closed socket, error) fails it early."""
        task = asyncio.ensure_future(aw)
        try:
            done, _ = await asyncio.wait({task, self._reader}, timeout=_left(deadline),
                                         return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                return task.result()
            if self._reader in done:
                exc = self._reader.exception()
                code = getattr(self.ws, "close_code", None)
                reason = getattr(self.ws, "close_reason", None)
                raise ConnectionError(f"connection ended while waiting for {what}: "
                                      f"{exc!r} (close code {code}, reason {reason!r})") from exc
            raise TimeoutError(f"no {what} before the deadline")
        finally:
            task.cancel()

    # -- the doc ----------------------------------------------------------------------------------

    def _cells(self) -> Array:
        return self.doc.get("cells", type=Array)

    def cell_count(self) -> int:
        return len(self._cells())

    def output_count(self) -> int:
        return sum(len(cell["outputs"]) for cell in self._cells() if "outputs" in cell)

    def cell_id(self, index: int) -> str | None:
        cells = self._cells()
        return str(cells[index].get("id")) if len(cells) else None

    def first_source(self) -> str:
        return str(self._cells()[0]["source"])

    # -- edit and save ----------------------------------------------------------------------------

    async def edit_and_save(self, deadline: float) -> dict:
        state = self.doc.get_state()
        self._cells()[0]["source"].insert(0, EDIT_MARK)
        await self.ws.send(create_update_message(self.doc.get_update(state)))
        t0 = time.perf_counter()
        skipped = 0
        while True:
            self._save_id += 1
            save_id = self._save_id
            encoder = Encoder()
            encoder.write_var_uint(MSG_CUSTOM)
            encoder.write_var_string("save")
            encoder.write_var_uint(save_id)
            await self.ws.send(encoder.to_bytes())
            while True:
                reply = await self._wait(self._save_replies.get(), deadline, f"save reply {save_id}")
                if reply.get("responseTo") == save_id:
                    break
            status = reply.get("status")
            if status != "skipped":
                return {"save_ms": (time.perf_counter() - t0) * 1000, "status": status, "skipped": skipped}
            skipped += 1
            await asyncio.sleep(min(SKIP_RETRY_S, _left(deadline)))
            if _left(deadline) <= 0:
                raise TimeoutError(f"save still skipped after {skipped} tries")

    async def close(self) -> None:
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 5)
            except Exception:
                pass
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except BaseException:
                pass


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
