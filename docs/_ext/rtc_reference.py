"""Reference tables generated from the code, never written twice by hand.

Directives (each renders a table):

- ``relay-options``: every setting of ``python -m rtc_relay`` (``rtc_relay.config.RelayConfig``): flag,
  environment variable, default, meaning;
- ``traits`` with the argument ``module.Class``: the configurable traits of a Jupyter extension app;
- ``close-codes`` and ``rest-errors``: the catalogues of ``schema/``;
- ``events``: the event schemas of ``schema/events/``;
- ``endpoints`` (option ``:prefix:``): method, path and summary of every operation of ``spec.json``, each
  path linked to its entry of the REST reference (``rest-operations``, ``rtc_rest.py``) on the same page.
"""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[2]


def _table(header: list[str], rows: list[list[str]], widths: list[int]) -> nodes.table:
    table = nodes.table(classes=["rtc-reference"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    head += _row(header)
    body = nodes.tbody()
    group += body
    for row in rows:
        body += _row(row)
    return table


def _row(cells: list[str]) -> nodes.row:
    row = nodes.row()
    for text in cells:
        entry = nodes.entry()
        paragraph = nodes.paragraph()
        if text.startswith("`") and text.endswith("`") and text.count("`") == 2:
            paragraph += nodes.literal(text=text.strip("`"))
        else:
            paragraph += nodes.Text(text)
        entry += paragraph
        row += entry
    return row


class RelayOptions(SphinxDirective):
    def run(self) -> list[nodes.Node]:
        from rtc_relay.config import RelayConfig

        rows = []
        for f in fields(RelayConfig):
            default = "" if f.default is MISSING else repr(f.default)
            if f.default_factory is not MISSING:  # type: ignore[misc]
                default = repr(f.default_factory())  # type: ignore[misc]
            rows.append(
                [
                    f"`--{f.name.replace('_', '-')}`",
                    f"`RTC_RELAY_{f.name.upper()}`",
                    f"`{default}`" if default not in ("", "''") else "",
                    f.metadata.get("help", ""),
                ]
            )
        return [_table(["Flag", "Environment", "Default", "Meaning"], rows, [18, 22, 10, 50])]


class Traits(SphinxDirective):
    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        module, _, name = self.arguments[0].rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        rows = []
        for trait_name, trait in sorted(cls.class_traits(config=True).items()):
            if trait_name in _JUPYTER_APP_TRAITS:
                continue
            default = trait.default_value_repr()
            rows.append([f"`c.{name}.{trait_name}`", type(trait).__name__, f"`{default}`", trait.help or ""])
        return [_table(["Setting", "Type", "Default", "Meaning"], rows, [30, 8, 12, 50])]


# The settings every jupyter_server extension app has (logging, config files): documented by Jupyter.
_JUPYTER_APP_TRAITS = {
    "answer_yes", "config_file", "config_file_name", "default_url", "file_url_prefix", "generate_config",
    "handlers", "log_datefmt", "log_format", "log_level", "logging_config", "open_browser", "settings",
    "show_config", "show_config_json", "static_paths", "static_url_prefix", "template_paths",
}  # fmt: skip


class Catalogue(SphinxDirective):
    """``close-codes`` or ``rest-errors``: the catalogue file named by the directive."""

    def run(self) -> list[nodes.Node]:
        if self.name == "close-codes":
            data = json.loads((ROOT / "schema" / "close-codes.json").read_text())
            rows = [
                [str(c["code"]), f"`{c['name']}`", "yes" if c.get("reconnect") else "no", c["meaning"]]
                for c in data["codes"]
            ]
            return [_table(["Code", "Name", "Reconnect", "Meaning"], rows, [6, 16, 8, 70])]
        data = json.loads((ROOT / "schema" / "rest-errors.json").read_text())
        rows = [[str(e["status"]), f"`{e['error']}`", e["meaning"]] for e in data["errors"]]
        return [_table(["HTTP", "error", "Meaning"], rows, [6, 20, 74])]


class Events(SphinxDirective):
    """``events``: the schemas of what the server emits on jupyter_server's event bus (``schema/events/``)."""

    def run(self) -> list[nodes.Node]:
        rows = []
        for path in sorted((ROOT / "schema" / "events").glob("*.json")):
            schema = json.loads(path.read_text())
            rows.append([f"`{schema['$id']}`", schema.get("description", "")])
        return [_table(["Schema", "What it tells"], rows, [40, 60])]


class Endpoints(SphinxDirective):
    option_spec = {"prefix": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        spec = json.loads((ROOT / "spec.json").read_text())
        prefix = self.options.get("prefix", "")
        rows, ids = [], []
        for path, operations in spec["paths"].items():
            if not path.startswith(prefix):
                continue
            for method, operation in operations.items():
                if method == "parameters":
                    continue
                rows.append([method.upper(), f"`{path}`", operation.get("summary", "")])
                ids.append(operation_id(method, path))
        if not rows:
            raise self.error(f"spec.json has no path under {prefix!r}")
        table = _table(["Method", "Path", "Does"], rows, [8, 45, 47])
        for row, refid in zip(table.findall(nodes.row), [None, *ids], strict=True):  # the header row first
            if refid is not None:  # the path links to its entry in the REST reference (rtc_rest.py)
                paragraph = row.children[1].children[0]
                link = nodes.reference("", "", refid=refid)
                link += paragraph.children[0].deepcopy()
                paragraph.clear()
                paragraph += link
        return [table]


def operation_id(method: str, path: str) -> str:
    """The anchor of an operation in the REST reference (``rest-operations``)."""
    return "op-" + re.sub(r"[^a-z0-9]+", "-", f"{method} {path}".lower()).strip("-")


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("relay-options", RelayOptions)
    app.add_directive("traits", Traits)
    app.add_directive("close-codes", Catalogue)
    app.add_directive("rest-errors", Catalogue)
    app.add_directive("endpoints", Endpoints)
    app.add_directive("events", Events)
    return {"parallel_read_safe": True, "version": "1"}
