"""Examples that run while the documentation builds: a page whose example fails does not build.

The ``example`` directive takes a language and, in its content, the code, then optionally a line
``---`` and the output the code must print. Lines of the expected output are matched one by one;
``...`` alone on a line matches any number of lines, and ``...`` inside a line matches any text. The
page shows the code and the output it is checked against.

``sh`` and ``python`` examples run (``example_runner.py`` says where and how): a page's examples one
after the other, in a thread of the page's, beside other pages' (``PAGES_AT_ONCE``); once every page is
read the build waits for them and warns for each that failed. Options:

- ``:server:`` ``relay``, ``jupyter`` or ``none`` (default): a server the example needs,
  started on first use (``example_runner.Servers``). Examples see the environment variables ``RELAY``
  (``host:port``) and ``RELAY_PORT``, ``JUPYTER`` (``http://host:port``), ``JUPYTER_PORT``, ``TOKEN`` and
  ``JUPYTER_TOKEN`` (the Jupyter server's token), ``PYTHON`` (this interpreter).
- ``:timeout:`` seconds (60 by default).
- ``:ports: 1235 6379``: port numbers the page shows; the build runs the code (and matches its output)
  with a free port in place of each, so that builds running at the same time never collide. The
  environment variable ``PORT_1235`` is that port.
- ``:replace: SHOWN=RUN ...``: text the page shows and the build replaces before running, ``RUN`` after
  expanding ``$NAME`` from the environment above (``8888=$JUPYTER_PORT``, ``YOUR-TOKEN=$TOKEN``).
- ``:env: NAME=VALUE ...``: environment variables set for the run, not shown (``$NAME`` expanded).
- ``:cwd: root``: run in the repository's root instead of the scratch folder (the bench's commands).
- ``:until-printed:``: the code serves until stopped (a server's command): it is stopped once what it
  printed matches the expected output, and fails if it ends, or does not print it, before the deadline.
- ``:file: NAME``: the content is a file (any language), written to ``NAME`` in the page's scratch folder
  (replacements applied) for the page's examples after it, not run.
- ``:schema: NAME``: the content is JSON that must be valid against ``schema/NAME``.

A block the build cannot run (a deployment file, browser code) is an ``illustrative`` block instead,
with a ``:reason:`` the page shows under it. Any other code block is counted as not run: the build
writes ``checks.json`` in the output folder with the examples, files and illustrative blocks of each
page, every code block that is none of them (``tests/test_docs.py`` asserts there is none) and how long
each example took (seconds, by line), and
``examples.json`` with the number of examples each page runs.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import jsonschema
from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from example_runner import KINDS, ROOT, Servers, free_port

log = logging.getLogger(__name__)

CHECKED = "rtc-checked"  # the class of every literal block these directives render
SHOWN_AS = {"sh": "bash", "js": "javascript"}
PAGES_AT_ONCE = 3  # pages whose examples run at the same time


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` lines match ``expected`` (``...`` alone: any lines; ``...`` in a line: any text)."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head.strip() == "...":
        return any(matches(rest, actual[i:]) for i in range(len(actual) + 1))
    if not actual:
        return False
    pattern = ".*".join(re.escape(part) for part in head.split("..."))
    return re.fullmatch(pattern, actual[0].rstrip()) is not None and matches(rest, actual[1:])


def _pairs(value: str) -> list[tuple[str, str]]:
    """``A=B C=D`` as ``[("A", "B"), ("C", "D")]``."""
    pairs = []
    for item in value.split():
        shown, sep, run = item.partition("=")
        if not sep or not shown:
            raise ValueError(f"{item!r} is not SHOWN=RUN")
        pairs.append((shown, run))
    return pairs


def _ports(value: str) -> list[str]:
    ports = value.split()
    if not all(p.isdigit() for p in ports):
        raise ValueError(f"ports are numbers: {value!r}")
    return ports


def _substitute(text: str, pairs: list[tuple[str, str]]) -> str:
    for shown, run in pairs:
        if shown.isdigit():  # a port: not inside a longer number
            text = re.sub(rf"(?<![\d.]){re.escape(shown)}(?!\d)", run, text)
        else:
            text = text.replace(shown, run)
    return text


class Example(SphinxDirective):
    required_arguments = 1
    has_content = True
    option_spec = {
        "server": lambda v: directives.choice(v, KINDS),
        "timeout": float,
        "ports": _ports,
        "replace": _pairs,
        "env": _pairs,
        "cwd": lambda v: directives.choice(v, ("root",)),
        "until-printed": directives.flag,
        "file": directives.unchanged_required,
        "schema": directives.unchanged_required,
    }

    def run(self) -> list[nodes.Node]:
        language = self.arguments[0]
        lines = list(self.content)
        code_lines, expected = (lines, None) if "---" not in lines else _split(lines)
        code = "\n".join(code_lines).strip("\n")
        self.page = self.env.docname  # the jobs below run once the page is read, when env.docname is another's
        checks = self.env.rtc_checks[self.page]  # type: ignore[attr-defined]
        if "file" in self.options or "schema" in self.options:
            checks["files"] += 1
            if "schema" in self.options:
                self._check_schema(code)
            if "file" in self.options:
                self._queue(partial(self._write_file, code))
            return self._render(language, code, expected)
        if language not in ("sh", "python"):
            raise self.error(f"example: {language!r} runs with neither sh nor python; make it a :file: or illustrative")
        if "until-printed" in self.options and expected is None:
            raise self.error("example: :until-printed: needs the output to wait for")
        self.env.rtc_examples[self.env.docname] += 1  # type: ignore[attr-defined]
        checks["run"] += 1
        self._queue(partial(self._execute, language, code, expected))
        return self._render(language, code, expected)

    def _queue(self, job: Callable[[Servers], list[str]]) -> None:
        """Run ``job`` after the page's earlier examples, beside other pages' (see :func:`_page_read`)."""
        self.env.app.rtc_queue.setdefault(self.env.docname, []).append((self.lineno, job))  # type: ignore[attr-defined]

    def _execute(self, language: str, code: str, expected: list[str] | None, servers: Servers) -> list[str]:
        """Run the example; return what is wrong with it (nothing when it printed what the page says)."""
        try:
            servers.need(self.options.get("server", "none"))
        except Exception as exc:
            return [f"its server did not start: {exc}"]
        pairs = self._replacements(servers)
        code = _substitute(code, pairs)
        want = None if expected is None else [_substitute(line, pairs) for line in expected]
        done = None
        if "until-printed" in self.options:
            done = lambda printed: matches(want, printed.rstrip("\n").splitlines())  # noqa: E731
        env = {f"PORT_{port}": run for port, run in pairs if port.isdigit()}
        env.update({name: servers.expand(value, env) for name, value in self.options.get("env", [])})
        status, output = servers.run(
            language, code, self.options.get("timeout", 60.0), env=env, done=done,
            cwd=ROOT if self.options.get("cwd") == "root" else servers.folder(self.page),
        )  # fmt: skip
        if status is None:
            return []  # stopped once it printed what the page says
        if done is not None or status != 0:
            ended = "ended before printing what its page says" if done is not None and status == 0 else "failed"
            return [f"{ended} (exit {status}):\n{code}\n--- printed:\n{output}"]
        if want is not None and not matches(want, output.rstrip("\n").splitlines()):
            said = "\n".join(want)
            return [f"printed what its page does not say:\n--- expected:\n{said}\n--- printed:\n{output}"]
        return []

    def _replacements(self, servers: Servers) -> list[tuple[str, str]]:
        pairs = [(port, str(free_port())) for port in self.options.get("ports", [])]
        return pairs + [(shown, servers.expand(run)) for shown, run in self.options.get("replace", [])]

    def _check_schema(self, code: str) -> None:
        try:
            data = json.loads(code)
            schema = json.loads((ROOT / "schema" / self.options["schema"]).read_text())
            jsonschema.validate(data, schema)
        except (ValueError, OSError, jsonschema.ValidationError) as exc:
            self._warn(f"is not valid against schema/{self.options['schema']}: {exc}")

    def _write_file(self, code: str, servers: Servers) -> list[str]:
        try:
            servers.need(self.options.get("server", "none"))
        except Exception as exc:
            return [f"its server did not start: {exc}"]
        folder = servers.folder(self.page)
        servers.write(folder / self.options["file"], _substitute(code, self._replacements(servers)))
        return []

    def _render(self, language: str, code: str, expected: list[str] | None) -> list[nodes.Node]:
        block = nodes.literal_block(code, code, language=SHOWN_AS.get(language, language), classes=[CHECKED])
        self.set_source_info(block)
        result: list[nodes.Node] = [block]
        if expected is not None:
            text = "\n".join(expected)
            result.append(nodes.literal_block(text, text, language="text", classes=["example-output", CHECKED]))
        return result

    def _warn(self, what: str) -> None:
        where = f"{self.env.docname}:{self.lineno}"
        log.warning("example at %s %s", where, what, location=(self.env.docname, self.lineno))


class Illustrative(SphinxDirective):
    """A code block the build cannot run; the page says why under it (``:reason:``)."""

    required_arguments = 1
    has_content = True
    option_spec = {"reason": directives.unchanged_required}

    def run(self) -> list[nodes.Node]:
        if not self.options.get("reason"):
            raise self.error("illustrative: say why it is not run (:reason:)")
        code = "\n".join(self.content).strip("\n")
        language = self.arguments[0]
        block = nodes.literal_block(code, code, language=SHOWN_AS.get(language, language), classes=[CHECKED])
        self.set_source_info(block)
        note = nodes.paragraph(classes=["example-illustrative"])
        note += nodes.emphasis(text=f"Not run while these pages build: {self.options['reason']}")
        checks = self.env.rtc_checks[self.env.docname]  # type: ignore[attr-defined]
        checks["illustrative"].append({"line": self.lineno, "language": language, "reason": self.options["reason"]})
        return [block, note]


def _split(lines: list[str]) -> tuple[list[str], list[str]]:
    at = lines.index("---")
    return lines[:at], [line for line in lines[at + 1 :]]


def _page_checks() -> dict[str, Any]:
    return {"run": 0, "files": 0, "illustrative": [], "unrun": [], "seconds": {}}


def _run_page(
    servers: Servers, jobs: list[tuple[int, Callable[[Servers], list[str]]]]
) -> list[tuple[int, list[str], float]]:
    """Run a page's examples in order; return each one's line, what is wrong with it, and its seconds."""
    results = []
    for lineno, job in jobs:
        started = time.monotonic()
        try:
            wrong = job(servers)
        except Exception as exc:  # a bug of this module: the page still does not build
            wrong = [f"could not be run: {exc!r}"]
        results.append((lineno, wrong, round(time.monotonic() - started, 1)))
    return results


def _builder_inited(app: Any) -> None:
    app.rtc_servers = Servers()
    # Pages run their examples one after the other, and beside the next pages' while Sphinx reads them:
    # most of an example's time is a server starting or a kernel answering, not this machine's CPU.
    app.rtc_pool = ThreadPoolExecutor(max_workers=PAGES_AT_ONCE, thread_name_prefix="rtc-examples")
    app.rtc_queue = {}  # docname -> [(line, job)], until the page is read
    app.rtc_running = {}  # docname -> Future of _run_page's results
    if not hasattr(app.env, "rtc_examples"):
        app.env.rtc_examples = Counter()
    if not hasattr(app.env, "rtc_checks"):
        app.env.rtc_checks = {}


def _source_read(app: Any, docname: str, source: list[str]) -> None:
    app.env.rtc_checks[docname] = _page_checks()


def _doctree_read(app: Any, doctree: nodes.document) -> None:
    """Start the page's examples; record every code block of the page that no directive here rendered."""
    docname = app.env.docname
    jobs = app.rtc_queue.pop(docname, [])
    if jobs:
        app.rtc_running[docname] = app.rtc_pool.submit(_run_page, app.rtc_servers, jobs)
    unrun = app.env.rtc_checks.setdefault(docname, _page_checks())["unrun"]
    for block in doctree.findall(nodes.literal_block):
        if CHECKED not in block["classes"]:
            unrun.append({"line": block.line, "language": block.get("language", "")})


def _env_updated(app: Any, env: Any) -> list[str]:
    """Wait for every page's examples; warn (the build fails) for each that did not do what its page says."""
    for docname, running in sorted(app.rtc_running.items()):
        for lineno, wrong, seconds in running.result():
            env.rtc_checks[docname]["seconds"][str(lineno)] = seconds
            for what in wrong:
                log.warning("example at %s:%s %s", docname, lineno, what, location=(docname, lineno))
    app.rtc_running.clear()
    return []


def _purge(app: Any, env: Any, docname: str) -> None:
    if hasattr(env, "rtc_examples"):
        env.rtc_examples.pop(docname, None)
    if hasattr(env, "rtc_checks"):
        env.rtc_checks.pop(docname, None)


def _build_finished(app: Any, exception: Exception | None) -> None:
    app.rtc_pool.shutdown(wait=True, cancel_futures=True)
    app.rtc_servers.stop()
    if exception is None:
        counts = dict(sorted(getattr(app.env, "rtc_examples", Counter()).items()))
        Path(app.outdir, "examples.json").write_text(json.dumps(counts, indent=2) + "\n")
        checks = dict(sorted(getattr(app.env, "rtc_checks", {}).items()))
        Path(app.outdir, "checks.json").write_text(json.dumps(checks, indent=2, ensure_ascii=False) + "\n")


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("example", Example)
    app.add_directive("illustrative", Illustrative)
    app.connect("builder-inited", _builder_inited)
    app.connect("source-read", _source_read)
    app.connect("doctree-read", _doctree_read)
    app.connect("env-updated", _env_updated)
    app.connect("env-purge-doc", _purge)
    app.connect("build-finished", _build_finished)
    return {"parallel_read_safe": False, "version": "2"}
