"""The settings of the supernode extension (``c.SupernodeExtension.<name>``), apart from what it does
with them (:mod:`supernode.app`): :class:`SupernodeOptions` holds every configurable trait, and the
extension app inherits them, under its own name in the config."""

from __future__ import annotations

from traitlets import Bool, Float, Int, Unicode
from traitlets.config import Configurable

__all__ = ["SupernodeOptions"]


class SupernodeOptions(Configurable):
    """The supernode's settings: saving, loading, executions, tables, timelines, agents (MCP) and
    classrooms. Set as ``SupernodeExtension.<name>`` (the extension app is the only instance)."""

    save_delay = Float(1.0, config=True, help="Seconds without changes after which a document is saved.")
    save_max_wait = Float(
        5.0,
        config=True,
        help="Longest time in seconds a change waits to be saved, however often the document keeps changing.",
    )
    save_share = Float(
        0.005,
        config=True,
        help="Largest share of a core the autosaves of a document that keeps changing may take: after a save that "
        "cost d CPU seconds (estimated from the file's size: about 38 ns per byte for the save and its read-back), "
        "the next is put off by at most max(save_max_wait, d / save_share) seconds. A cell "
        "printing for hours into a notebook of many megabytes is then saved every few tens of seconds instead of "
        "every save_max_wait at a cost growing with its output (what it printed meanwhile is in the output log, "
        "which survives a crash). Quiet-period saves, Ctrl+S and the save at an execution's end are never put off. "
        "0: always save_max_wait.",
    )
    file_poll_interval = Float(
        1.0,
        config=True,
        help="Seconds between checks of an open document's file for renames and edits on disk; 0: no poll "
        "(edits on disk are still taken in before each save, and renames through Jupyter followed at once).",
    )

    load_progressively = Bool(
        True,
        config=True,
        help="Open notebooks in stages: cells whose outputs are larger than output_delay_threshold_mb reach the "
        "first client without them, and their outputs follow (one cell at a time, also when the notebook comes "
        "from the load cache) once it has the rest, so a notebook with very large outputs shows its cells first. "
        "A user who joins meanwhile gets what the room holds, then the rest as it follows. Saves, merges from "
        "disk, executions and REST reads of the notebook wait for the whole document. False: every notebook "
        "reaches its first client in one piece.",
    )
    output_delay_threshold_mb = Float(
        1.0,
        allow_none=True,
        config=True,
        help="With load_progressively: a cell's outputs larger than this many MB (as JSON) load after the rest; "
        "None: none are delayed.",
    )

    load_cache = Bool(
        True,
        config=True,
        help="Keep the shared document built from each notebook (its encoded state, keyed by the file's content "
        "hash) so that the next open of an unchanged file, after a restart too, skips parsing and building it. A "
        "changed file is always built again; a cache that cannot be read is ignored.",
    )
    load_cache_path = Unicode(
        "",
        config=True,
        help="SQLite file of the load cache; default: jupyter_rtc/loads.sqlite in the Jupyter data dir.",
    )
    load_cache_size_mb = Float(
        1024.0,
        config=True,
        help="Most MB of built documents the load cache keeps (the least recently opened go first).",
    )

    kernel_query_timeout = Float(
        20.0,
        config=True,
        help="Seconds a completion or inspection asked of a notebook's kernel over REST may wait for its answer "
        "(504 kernel_timeout after): a kernel answers them in turn, after the cell it runs, and its first "
        "completion loads its completer.",
    )
    output_interval = Float(
        0.05,
        config=True,
        help="Seconds between writes of a running cell's outputs into its shared document: output that comes "
        "faster (a display updated in a loop, a progress bar) is written once per interval, so the document's "
        "history, the traffic to collaborators and the server's memory grow with time, not with messages. "
        "The first output of a quiet cell and the last of every cell are written at once; 0 writes every message.",
    )

    journal_path = Unicode(
        "",
        config=True,
        help="SQLite file of the execution journal; default: jupyter_rtc/executions.sqlite in the Jupyter data dir.",
    )
    classroom_store_path = Unicode(
        "",
        config=True,
        help="SQLite file of the classroom sessions and their students' pulls, restored when the server starts "
        "again; default: classrooms.sqlite beside the execution journal (in memory when the journal is: "
        "sessions then end with the server).",
    )
    journal_limit = Int(
        10_000,
        config=True,
        help="How many finished execution records the journal keeps (those that finished last; unfinished ones always).",
    )
    server_side_execution = Bool(
        True,
        config=True,
        help="Tell the JupyterLab frontend (page config serverSideExecution) to run cells through the server, "
        "so execution and its outputs survive every browser being closed.",
    )

    tables = Bool(
        True,
        config=True,
        help="Keep the shared tables (kernelspecs, status, terminals, kernels, sessions, contents, executions) "
        "in the relay room supernode:tables.",
    )
    tables_poll_interval = Float(
        1.0,
        config=True,
        help="Seconds between reads of what has no event (kernel busy/idle, connections, status, terminals): "
        "changes show in the tables within this time.",
    )
    tables_executions_limit = Int(
        100, config=True, help="How many of the newest executions the executions table lists (unfinished ones always)."
    )

    timeline_versions = Int(
        50,
        config=True,
        help="How many versions of each open document its timeline keeps (the oldest go first). Versions are "
        "taken when the document is opened and saved, when an execution ends, when a user joins, and when its "
        "file changes on disk; the timeline lives in memory with the document's room.",
    )
    timeline_max_bytes = Int(
        16 * 1024 * 1024,
        config=True,
        help="Most bytes (encoded size of the document's state) the versions of one document's timeline hold together; "
        "the oldest go first, the newest always stays.",
    )

    mcp_idle_timeout = Float(
        120.0,
        config=True,
        help="Seconds after an MCP agent's last call on a notebook when it leaves the notebook's presence "
        "(it also leaves when its MCP session ends).",
    )
    mcp_renew_interval = Float(
        10.0, config=True, help="Seconds between renewals of the agents' presence (clients drop it after 30 s)."
    )
    mcp_lease_hold = Float(
        60.0,
        config=True,
        help="Seconds a person's caret may rest in a cell and still keep it from agents: an agent's edit, deletion "
        "or move of the cell a person's caret is in is refused (unless forced) until the caret has not moved for "
        "this long (JupyterLab leaves a caret where it was when the person goes elsewhere).",
    )
    mcp_session_timeout = Float(
        1800.0, config=True, help="Seconds without a request after which an MCP session at /api/rtc/mcp is closed."
    )

    classroom_remote_join = Bool(
        False,
        config=True,
        help="Admit students of other Jupyter servers to this server's classroom sessions: POST "
        "/api/rtc/classrooms/tickets answers anyone who sends a running session's join code (no login here) a "
        "read-only ticket to its room, valid classroom_ticket_lifetime seconds. Off by default: it is the one "
        "endpoint that needs no Jupyter login, so the server's owner opens it on purpose (a server students "
        "reach through a JupyterHub share needs no tickets).",
    )
    classroom_ticket_lifetime = Float(
        600.0,
        config=True,
        help="Seconds a classroom ticket is valid: a student's server renews it before then; once a session ends "
        "or classroom_remote_join is turned off, no one reads its room for longer than this.",
    )
    classroom_ticket_failures_per_minute = Int(
        10,
        config=True,
        help="Wrong join codes an address may send to /api/rtc/classrooms/tickets a minute (a burst of as many, "
        "then one every 60/N s); past that its ticket requests are answered 429 with Retry-After. 0: unlimited.",
    )
    classroom_remote_timeout = Float(
        10.0,
        config=True,
        help="Seconds each call to a teacher's server may take when this server mirrors one of its classroom "
        "sessions (a ticket, a connection to its room); an unreachable server is reported (502) within about twice this.",
    )
    classroom_remote_give_up = Float(
        300.0,
        config=True,
        help="Seconds a mirror of another server's classroom session keeps trying to connect again after losing "
        "the teacher's server, with backoff (0.5 s doubling to 10 s); then it ends and its students are told (4404).",
    )
