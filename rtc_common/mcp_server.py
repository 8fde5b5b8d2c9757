"""The MCP server of notebook tools, over any backend (in-process in Jupyter, or REST from a client).

:class:`NotebookTools` serves the tools of :mod:`rtc_common.mcp_tools` and the resources
``notebook://{path}`` (a notebook as text) through a :class:`NotebookBackend`; :func:`build_server`
wraps it in the ``mcp`` package's low-level :class:`~mcp.server.lowlevel.Server`, for any transport.

Every call: its arguments are checked against the tool's input schema; the backend checks the caller's
permission (:attr:`ToolSpec.permission`); an edit, deletion or move of a cell a person is editing is refused
unless ``force``; the agent's presence shows it working on the cell (:mod:`rtc_common.agent_presence`).
Whatever goes wrong in a call (bad arguments, unknown cell, missing permission, a person's lease, a
precondition) answers a tool error (``isError``) whose text tells the agent what to do, never a protocol
error; a fault on the server's side is logged and answered the same way.

Sessions: an agent is one MCP session (the ``Mcp-Session-Id`` of streamable HTTP, or the process for
stdio), named by its client's ``clientInfo.name``; their presences are kept by
:class:`~rtc_common.agent_presence.AgentSessions`.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any, Protocol
from urllib.parse import quote, unquote

import jsonschema
import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from .agent_presence import AgentPresence, AgentSessions, Carets, LobbyChannel, PresenceChannel, editors_of
from .mcp_tools import TOOLS, ToolError, client_name, session_key, tool
from .notebook_text import DEFAULT_OUTPUT_CHARS, cell_text, notebook_text, outputs_text

__all__ = ["NotebookBackend", "NotebookTools", "ToolError", "build_server"]

log = logging.getLogger("rtc_common.mcp")

RESOURCE_PREFIX = "notebook://"
_CARET_NOTEBOOKS = 1000  # notebooks whose carets are followed (the least recently asked are forgotten)
_FINISHED = ("ok", "error", "aborted")


class NotebookBackend(Protocol):
    """Where the tools act. Each method raises :class:`ToolError` for what the caller did wrong; answers
    are the REST notebook API's bodies (``schema/notebook-cells.json``, ``cell-change.json``,
    ``execution-record.json``). ``call`` is the transport's request context (for identity and permissions)."""

    async def allow(self, call: Any, permission: str) -> None: ...

    async def folder(self, call: Any, path: str) -> dict[str, Any]: ...

    async def cells(self, call: Any, path: str, offset: int, limit: int | None, outputs: bool) -> dict[str, Any]: ...

    async def insert(self, call: Any, path: str, **fields: Any) -> dict[str, Any]: ...

    async def change(self, call: Any, path: str, cell_id: str, **fields: Any) -> dict[str, Any]: ...

    async def delete(self, call: Any, path: str, cell_id: str, **fields: Any) -> dict[str, Any]: ...

    async def move(self, call: Any, path: str, cell_id: str, **fields: Any) -> dict[str, Any]: ...

    async def execute(self, call: Any, path: str, cell_ids: list[str]) -> dict[str, Any]: ...

    async def execution(self, call: Any, execution_id: str, wait: float | None) -> dict[str, Any]: ...

    async def interrupt(self, call: Any, execution_id: str) -> dict[str, Any]: ...

    async def channel(self, call: Any, path: str) -> PresenceChannel | None: ...

    async def lobby(self, call: Any) -> LobbyChannel | None: ...


class NotebookTools:
    """The tools and resources over ``backend``; ``sessions`` keeps the agents' presences; a person's caret resting
    ``lease_hold`` seconds in a cell no longer keeps it from agents (see :class:`~rtc_common.agent_presence.Carets`)."""

    def __init__(self, backend: NotebookBackend, sessions: AgentSessions, *, lease_hold: float = 60.0) -> None:
        self.backend = backend
        self.sessions = sessions
        self.lease_hold = lease_hold
        self._carets: dict[str, Carets] = {}  # by notebook path, the least recently asked first

    def presence(self, call: Any) -> AgentPresence:
        return self.sessions.get(session_key(call), client_name(call))

    # -- tools ------------------------------------------------------------------------------------

    async def call(self, call: Any, name: str, arguments: dict[str, Any] | None) -> types.CallToolResult:
        """Run tool ``name``; any failure is a tool error (see the module docstring)."""
        try:
            spec = tool(name)
            if spec is None:
                raise ToolError(f"no tool {name!r}; the tools are {', '.join(t.name for t in TOOLS)}")
            arguments = dict(arguments or {})
            error = next(_validator(name).iter_errors(arguments), None)
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path) or "arguments"
                raise ToolError(f"bad arguments for {name} ({where}): {error.message}")
            await self.backend.allow(call, spec.permission)
            result = await getattr(self, f"_{name}")(call, **arguments)
            text = json.dumps(result, ensure_ascii=False)
        except ToolError as exc:
            return types.CallToolResult(content=[types.TextContent(type="text", text=str(exc))], is_error=True)
        except Exception:
            log.exception("MCP tool %s failed", name)
            text = f"{name} failed on the server (its log says why); the notebook was not changed by this call"
            return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)],
            structured_content=result,
        )

    async def _list_notebooks(self, call: Any, path: str = "") -> dict[str, Any]:
        model = await self.backend.folder(call, path.strip("/"))
        if model.get("type") != "directory":
            raise ToolError(f"{path or '/'} is not a folder")
        entries = model.get("content") or []
        notebooks = [
            {"path": entry["path"], "last_modified": _timestamp(entry.get("last_modified"))}
            for entry in entries
            if entry.get("type") == "notebook"
        ]
        folders = [entry["path"] for entry in entries if entry.get("type") == "directory"]
        return {"path": model.get("path", path), "notebooks": notebooks, "folders": sorted(folders)}

    async def _read_notebook(
        self,
        call: Any,
        path: str,
        offset: int = 0,
        limit: int = 50,
        outputs: bool = True,
        max_output_chars: int = DEFAULT_OUTPUT_CHARS,
    ) -> dict[str, Any]:
        page = await self.backend.cells(call, path, offset, limit, outputs)
        await self._working_on(call, path, None)
        cells = [cell_text(cell, max_output_chars) for cell in page["cells"]]
        end = page["offset"] + len(cells)
        return {
            "path": page["path"],
            "version": page["version"],
            "count": page["count"],
            "offset": page["offset"],
            "next_offset": end if end < page["count"] else None,
            "cells": cells,
        }

    async def _insert_cell(self, call: Any, path: str, **fields: Any) -> dict[str, Any]:
        answer = await self.backend.insert(call, path, **fields)
        await self._working_on(call, path, answer["cell"]["id"])
        return _change(answer)

    async def _edit_cell(
        self, call: Any, path: str, cell_id: str, force: bool = False, **fields: Any
    ) -> dict[str, Any]:
        if "source" in fields and "edits" in fields:
            raise ToolError("give 'source' (the whole new source) or 'edits', not both")
        if "source" not in fields and "edits" not in fields:
            raise ToolError("give 'source' (the whole new source) or 'edits' ([{start, end, text}])")
        await self._lease(call, path, cell_id, force)
        return _change(await self.backend.change(call, path, cell_id, **fields))

    async def _delete_cell(
        self, call: Any, path: str, cell_id: str, force: bool = False, **fields: Any
    ) -> dict[str, Any]:
        await self._lease(call, path, cell_id, force)
        answer = await self.backend.delete(call, path, cell_id, **fields)
        await self._working_on(call, path, None)
        return _change(answer)

    async def _move_cell(
        self, call: Any, path: str, cell_id: str, force: bool = False, **fields: Any
    ) -> dict[str, Any]:
        if "before" in fields and "index" in fields:
            raise ToolError("give 'before' (a cell id) or 'index', not both")
        await self._lease(call, path, cell_id, force)
        answer = await self.backend.move(call, path, cell_id, **fields)
        await self._working_on(call, path, cell_id)  # the moved cell's text is a new one: show the caret there
        return _change(answer)

    async def _execute_cells(
        self,
        call: Any,
        path: str,
        cell_ids: list[str],
        wait: float | None = None,
        max_output_chars: int = DEFAULT_OUTPUT_CHARS,
    ) -> dict[str, Any]:
        record = await self.backend.execute(call, path, cell_ids)
        await self._working_on(call, path, cell_ids[-1])
        if wait:
            record = await self.backend.execution(call, record["id"], wait)
        return _execution(record, max_output_chars)

    async def _get_execution(
        self, call: Any, execution_id: str, wait: float | None = None, max_output_chars: int = DEFAULT_OUTPUT_CHARS
    ) -> dict[str, Any]:
        return _execution(await self.backend.execution(call, execution_id, wait), max_output_chars)

    async def _interrupt_execution(self, call: Any, execution_id: str) -> dict[str, Any]:
        return _execution(await self.backend.interrupt(call, execution_id), DEFAULT_OUTPUT_CHARS)

    # -- presence ---------------------------------------------------------------------------------

    async def _lease(self, call: Any, path: str, cell_id: str, force: bool) -> None:
        """Refuse (a tool error) to change cell ``cell_id`` while a person edits it, unless ``force``; show the
        agent at the cell."""
        channel = await self.backend.channel(call, path)
        if channel is None:
            return
        if not force:
            carets = self._carets.pop(path, None) or Carets(self.lease_hold)
            self._carets[path] = carets
            while len(self._carets) > _CARET_NOTEBOOKS:
                del self._carets[next(iter(self._carets))]
            editors = editors_of(channel.cells(), carets.moving(channel.states())).get(cell_id)
            if editors:
                raise ToolError(
                    f"cell {cell_id} is being edited by {', '.join(editors)}; retry later or pass force=true"
                )
        self.presence(call).working_on(path, channel, cell_id, await self.backend.lobby(call))

    async def _working_on(self, call: Any, path: str, cell_id: str | None) -> None:
        channel = await self.backend.channel(call, path)
        if channel is not None:
            self.presence(call).working_on(path, channel, cell_id, await self.backend.lobby(call))

    # -- resources --------------------------------------------------------------------------------

    async def resources(self, call: Any) -> list[types.Resource]:
        await self.backend.allow(call, "read")
        listing = await self._list_notebooks(call, "")
        return [
            types.Resource(uri=RESOURCE_PREFIX + quote(nb["path"]), name=nb["path"], mime_type="text/markdown")
            for nb in listing["notebooks"]
        ]

    async def read_resource(self, call: Any, uri: str) -> str:
        if not uri.startswith(RESOURCE_PREFIX):
            raise ToolError(f"no resource {uri}: notebooks are {RESOURCE_PREFIX}{{path}}")
        path = unquote(uri[len(RESOURCE_PREFIX) :]).strip("/")
        await self.backend.allow(call, "read")
        page = await self.backend.cells(call, path, 0, None, True)
        return notebook_text(page["path"], [cell_text(cell) for cell in page["cells"]])


@functools.cache
def _validator(name: str) -> jsonschema.Draft202012Validator:
    spec = tool(name)
    assert spec is not None
    return jsonschema.Draft202012Validator(spec.input_schema)


def _timestamp(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _change(answer: dict[str, Any]) -> dict[str, Any]:
    return {"cell": cell_text(answer["cell"]), "version": answer["version"]}


def _execution(record: dict[str, Any], limit: int) -> dict[str, Any]:
    return {
        "execution_id": record["id"],
        "path": record["path"],
        "status": record["status"],
        "finished": record["status"] in _FINISHED,
        "abort_reason": record.get("abort_reason"),
        "cells": [
            {
                "cell_id": cell["cell_id"],
                "status": cell["status"],
                "execution_count": cell.get("execution_count"),
                "outputs": outputs_text(cell.get("outputs") or [], limit),
                "input_request": cell.get("input_request"),
            }
            for cell in record.get("cells", [])
        ],
    }


def build_server(tools: NotebookTools, name: str = "jupyter-rtc", version: str = "") -> Server:
    """An MCP server of ``tools`` (any transport can run it)."""

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=spec.name,
                    description=spec.description,
                    input_schema=spec.input_schema,
                    output_schema=spec.output_schema,
                )
                for spec in TOOLS
            ]
        )

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await tools.call(ctx, params.name, params.arguments)

    async def list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
        try:
            return types.ListResourcesResult(resources=await tools.resources(ctx))
        except ToolError:
            return types.ListResourcesResult(resources=[])

    async def list_templates(ctx: Any, params: Any) -> types.ListResourceTemplatesResult:
        template = types.ResourceTemplate(
            name="notebook",
            uri_template=RESOURCE_PREFIX + "{+path}",
            description="A notebook as people see it now: every cell's id, source and outputs as text.",
            mime_type="text/markdown",
        )
        return types.ListResourceTemplatesResult(resource_templates=[template])

    async def read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        try:
            text = await tools.read_resource(ctx, str(params.uri))
        except ToolError as exc:
            raise MCPError(code=-32602, message=str(exc)) from None
        contents = types.TextResourceContents(uri=str(params.uri), mime_type="text/markdown", text=text)
        return types.ReadResourceResult(contents=[contents])

    return Server(
        name,
        version=version,
        instructions="Notebooks of a Jupyter server, live: what you change shows at once to the people who have "
        "them open, and you show in their collaborators as 'agent: <your client name>'. Read a notebook first "
        "(read_notebook) to learn its cell ids.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
    )
