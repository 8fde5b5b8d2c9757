"""``jupyter-rtc``: the command line of the client (also ``python -m rtc_client``).

Subcommands (``jupyter-rtc SUBCOMMAND --help`` for each):

- ``cat PATH`` — print a notebook as it is live in the shared document (not as saved on disk).
- ``exec PATH [CELL_ID ...]`` — run cells by id (all code cells without ids) on the server, print their
  outputs as they arrive and progress on stderr; exit status 1 when a cell fails.
- ``tail PATH`` — follow a notebook's changes and its executions as they happen, one line each (the
  server's change feed, resumed by itself after a dropped connection).
- ``tables [TABLE ...]`` — print the server's shared tables (kernels, sessions, contents, executions, ...),
  one row per line; ``--watch`` then prints every row change as it happens.
- ``rooms`` — list the relay's rooms (a Jupyter server's or a standalone relay's).
- ``mcp`` — serve the Model Context Protocol on stdin/stdout: an agent's tools on the server's notebooks
  (:mod:`rtc_client.mcp_stdio`).

Every subcommand takes ``--url`` (default ``$JUPYTER_RTC_URL``, else ``http://127.0.0.1:8888/``) and
``--token`` (default ``$JUPYTER_RTC_TOKEN``, else ``$JUPYTER_TOKEN``). Exit status: 0 done, 1 a cell
failed or was aborted, 2 bad usage, 3 the server refused or could not be reached (the message says why).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from typing import TYPE_CHECKING

from .errors import ClientError
from .tail_lines import describe, output_text, tail_lines

if TYPE_CHECKING:
    from .execution import Execution
    from .jupyter import JupyterClient

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=os.environ.get("JUPYTER_RTC_URL", "http://127.0.0.1:8888/"),
        help="base URL of the Jupyter server or relay (default: $JUPYTER_RTC_URL or http://127.0.0.1:8888/)",
    )
    common.add_argument(
        "--token",
        default=os.environ.get("JUPYTER_RTC_TOKEN") or os.environ.get("JUPYTER_TOKEN"),
        help="the server's token (default: $JUPYTER_RTC_TOKEN, else $JUPYTER_TOKEN)",
    )
    common.add_argument("--json", action="store_true", help="print JSON (one object per line for streams)")

    parser = argparse.ArgumentParser(
        prog="jupyter-rtc", description="Read, run and follow live notebooks on a jupyter-rtc server."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")

    cat = sub.add_parser(
        "cat", parents=[common], help="print a notebook as it is live", description="Print a live notebook."
    )
    cat.add_argument("path", help="the notebook's path on the server")
    cat.add_argument("--outputs", action="store_true", help="print the cells' text outputs too")

    run = sub.add_parser(
        "exec",
        parents=[common],
        help="run cells by id and print their outputs",
        description="Run cells of a notebook by id (every code cell when no id is given), printing outputs as "
        "they arrive and progress on stderr. Exit status 1 when a cell fails. An input() request is answered "
        "with a line read from stdin.",
    )
    run.add_argument("path", help="the notebook's path on the server")
    run.add_argument("cell_ids", nargs="*", metavar="CELL_ID", help="cells to run, in this order (default: all)")
    run.add_argument("--timeout", type=float, default=None, help="give up after this many seconds (exit status 3)")

    tail = sub.add_parser(
        "tail",
        parents=[common],
        help="follow a notebook's changes and executions",
        description="Print each change of a notebook (cells, sources, outputs, execution state) and each event "
        "of its executions, as they happen, until interrupted (Ctrl-C) or --count events were printed.",
    )
    tail.add_argument("path", help="the notebook's path on the server")
    tail.add_argument("--count", type=int, default=None, help="stop after this many events")
    tail.add_argument("--poll", type=float, default=0.2, help="ignored: the server's change feed pushes every event")

    tables = sub.add_parser(
        "tables",
        parents=[common],
        help="print the server's shared tables",
        description="Print the shared tables (kernelspecs, status, terminals, kernels, sessions, contents, "
        "executions) as the server keeps them live, one row per line; with --watch, then every row change as it "
        "happens, until interrupted (Ctrl-C) or --count changes were printed.",
    )
    tables.add_argument("names", nargs="*", metavar="TABLE", help="tables to print (default: all)")
    tables.add_argument("--watch", action="store_true", help="then print each row change as it happens")
    tables.add_argument("--count", type=int, default=None, help="with --watch: stop after this many changes")

    rooms = sub.add_parser(
        "rooms",
        parents=[common],
        help="list the relay's rooms",
        description="List the rooms the relay holds (a Jupyter server's or a standalone relay's).",
    )
    del rooms

    mcp = sub.add_parser(
        "mcp",
        parents=[common],
        help="serve MCP tools on the server's notebooks over stdio",
        description="Serve the Model Context Protocol on stdin/stdout for an agent: list, read, edit and run "
        "cells of the server's live notebooks through its REST API; the agent shows in each notebook's "
        "collaborators as 'agent: <client name>' while it works on it.",
    )
    mcp.add_argument(
        "--idle-timeout", type=float, default=120.0, help="seconds without a call after which it leaves a notebook"
    )
    mcp.add_argument("--renew-interval", type=float, default=10.0, help="seconds between renewals of its presence")
    mcp.add_argument(
        "--lease-hold",
        type=float,
        default=60.0,
        help="seconds a person's caret may rest in a cell and still keep it from the agent",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)  # before the heavier imports, so that --help answers at once
    command: Callable[[argparse.Namespace], Coroutine[Any, Any, int]] = _COMMANDS[args.command]
    try:
        return asyncio.run(_interruptible(command(args)))
    except ClientError as exc:
        print(f"jupyter-rtc: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_OK


async def _interruptible(work: Coroutine[Any, Any, int]) -> int:
    """Run ``work``; SIGINT or SIGTERM cancel it cleanly (exit status 0)."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        return EXIT_OK
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _mcp(args: argparse.Namespace) -> int:
    import logging

    from .mcp_stdio import serve

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)  # stdout carries the protocol alone
    await serve(
        args.url,
        args.token,
        idle_timeout=args.idle_timeout,
        renew_interval=args.renew_interval,
        lease_hold=args.lease_hold,
    )
    return EXIT_OK


def _server(args: argparse.Namespace) -> JupyterClient:
    from .jupyter import JupyterClient

    return JupyterClient(args.url, args.token)


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def _line(obj: Any) -> None:
    _out(json.dumps(obj, ensure_ascii=False) + "\n")


# -- cat -----------------------------------------------------------------------------------------


async def _cat(args: argparse.Namespace) -> int:
    async with _server(args) as server:
        async with await server.open_notebook(args.path, reconnect=False) as nb:
            content = nb.to_dict()
    if args.json:
        _line(content)
        return EXIT_OK
    for cell in content["cells"]:
        count = cell.get("execution_count")
        label = f"In [{count if count is not None else ' '}]" if cell["cell_type"] == "code" else cell["cell_type"]
        _out(f"# --- {label} id={cell.get('id', '')}\n")
        source = cell["source"]
        _out(source + ("\n" if source and not source.endswith("\n") else ""))
        if args.outputs:
            for output in cell.get("outputs", []):
                _out(output_text(output))
    return EXIT_OK


# -- exec ------------------------------------------------------------------------------------------


async def _exec(args: argparse.Namespace) -> int:
    async with _server(args) as server:
        execution = await server.execute(args.path, args.cell_ids or None)
        total = len(execution.cell_ids)
        position = {cell_id: i + 1 for i, cell_id in enumerate(execution.cell_ids)}
        _err(f"execution {execution.id}: {total} cell{'s' if total != 1 else ''} of {args.path}\n")
        try:
            await _follow(execution, args, total, position)
        except asyncio.CancelledError:
            _err(f"execution {execution.id} goes on on the server (jupyter-rtc tail {args.path} follows it)\n")
            raise
        status = execution.status
        _err(f"execution {execution.id}: {status}\n")
        return EXIT_OK if status == "ok" else EXIT_FAILED


async def _follow(execution: Execution, args: argparse.Namespace, total: int, position: dict[str, int]) -> None:
    """Print the events of ``execution`` until it ends; answer input() from stdin."""
    async for event in execution.events(timeout=args.timeout):
        if args.json:
            _line(event)
        kind = event["event"]
        if kind == "output" and not args.json:
            output = event["output"]
            text = output_text(output)
            if output.get("output_type") == "error" or output.get("name") == "stderr":
                _err(text)
            else:
                _out(text)
        elif kind == "cell":
            count = event.get("execution_count")
            suffix = f" [{count}]" if count is not None else ""
            _err(
                f"[{position.get(event['cell_id'], '?')}/{total}] cell {event['cell_id']}: {event['status']}{suffix}\n"
            )
        elif kind == "input_request":
            _err(event.get("prompt") or "input: ")
            value = await asyncio.to_thread(sys.stdin.readline)
            await execution.answer(value.rstrip("\n"))


# -- tail --------------------------------------------------------------------------------------------


async def _tail(args: argparse.Namespace) -> int:
    from .feed_model import FeedModel

    printed = 0
    model = FeedModel()
    async with _server(args) as server:
        session = await server.session(args.path)
        async with server.notebook_events(args.path) as events:
            async for event in events:
                lines = tail_lines(model, event)
                model.apply(event)
                if event["event"] == "snapshot":
                    _err(f"following {args.path} (room json:notebook:{session['fileId']})\n")
                for line in lines:
                    if args.json:
                        _line(line)
                    else:
                        _out(describe(line) + "\n")
                    printed += 1
                    if args.count is not None and printed >= args.count:
                        return EXIT_OK
    return EXIT_OK


# -- rooms ---------------------------------------------------------------------------------------------


async def _rooms(args: argparse.Namespace) -> int:
    async with _server(args) as server:
        rooms = await server.rooms()
    if args.json:
        _line({"rooms": rooms})
        return EXIT_OK
    for room in rooms:
        _out(f"{room['name']}\t{room['clients']} client{'s' if room['clients'] != 1 else ''}\n")
    return EXIT_OK


# -- tables --------------------------------------------------------------------------------------------


def _row_text(table: str, key: str, row: dict[str, Any] | None) -> str:
    if row is None:
        return f"{table}\t{key}\t(removed)\n"
    fields = " ".join(
        f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in row.items() if name != "traceback"
    )
    return f"{table}\t{key}\t{fields}\n"


async def _tables(args: argparse.Namespace) -> int:
    from .tables import TABLES

    names = args.names or list(TABLES)
    unknown = [name for name in names if name not in TABLES]
    if unknown:
        _err(f"jupyter-rtc: error: no table {', '.join(unknown)}; the tables are {', '.join(TABLES)}\n")
        return EXIT_USAGE
    async with _server(args) as server:
        async with await server.tables() as live:
            if args.json:
                _line({"tables": {name: live.rows(name) for name in names}})
            else:
                for name in names:
                    for key, row in sorted(live.rows(name).items()):
                        _out(_row_text(name, key, row))
            if not args.watch:
                return EXIT_OK
            printed = 0
            async for change in live.changes():
                if change.table not in names:
                    continue
                if args.json:
                    _line({"table": change.table, "key": change.key, "row": change.row})
                else:
                    _out(_row_text(change.table, change.key, change.row))
                printed += 1
                if args.count is not None and printed >= args.count:
                    break
    return EXIT_OK


_COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "cat": _cat,
    "exec": _exec,
    "tail": _tail,
    "tables": _tables,
    "rooms": _rooms,
    "mcp": _mcp,
}
