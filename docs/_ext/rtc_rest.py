"""The REST reference, rendered from ``spec.json``: never written by hand, so it cannot drift from the code
(``tests/test_spec.py`` keeps ``spec.json`` true to the routes).

Directives:

- ``rest-operations`` (option ``:prefix:``, default every path): for each operation, its method and path
  (an anchor ``op-<method>-<path>`` that the ``endpoints`` tables link to), summary and description,
  a table of its parameters (path, query, header), its request body and a table of its responses,
  with every schema named in them linked to its entry of ``rest-schemas``;
- ``rest-schemas``: every schema of ``components.schemas``: title, description and a table of its
  properties (type, required, meaning; the types link to the schemas they name).

Both must be on the same page (the links are page-local).
"""

from __future__ import annotations

import json
import re
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

from rtc_reference import ROOT, operation_id

REF = "#/components/schemas/"


def schema_id(name: str) -> str:
    return "schema-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _spec() -> dict[str, Any]:
    return json.loads((ROOT / "spec.json").read_text())


def type_nodes(schema: dict[str, Any]) -> list[nodes.Node]:
    """A JSON schema's type, readable: ``string``, ``array of`` a link to a named schema, ``"a" | "b"``..."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(REF)
        return [nodes.reference("", name, refid=schema_id(name))]
    for combinator, joint in (("oneOf", " or "), ("anyOf", " or "), ("allOf", " and ")):
        if combinator in schema:
            result: list[nodes.Node] = []
            for i, part in enumerate(schema[combinator]):
                if i:
                    result.append(nodes.Text(joint))
                result.extend(type_nodes(part))
            return result
    if "enum" in schema:
        return [nodes.literal(text=" | ".join(json.dumps(v) for v in schema["enum"]))]
    if "const" in schema:
        return [nodes.literal(text=json.dumps(schema["const"]))]
    kind = schema.get("type", "any")
    if kind == "array" and "items" in schema:
        return [nodes.Text("array of "), *type_nodes(schema["items"])]
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict) and not schema.get("properties"):
        return [nodes.Text("object of "), *type_nodes(schema["additionalProperties"])]
    text = " | ".join(kind) if isinstance(kind, list) else kind
    if schema.get("format"):
        text += f" ({schema['format']})"
    return [nodes.Text(text)]


def _details(schema: dict[str, Any]) -> str:
    """What a schema's keywords constrain, in words (default, bounds, pattern)."""
    said = []
    if "default" in schema:
        said.append(f"default {json.dumps(schema['default'])}")
    for key, words in (("minimum", "at least"), ("maximum", "at most"), ("minLength", "length ≥"),
                       ("maxLength", "length ≤"), ("pattern", "matches")):  # fmt: skip
        if key in schema:
            said.append(f"{words} {schema[key]}")
    return "; ".join(said)


def _cell(*content: nodes.Node | str) -> nodes.entry:
    entry = nodes.entry()
    paragraph = nodes.paragraph()
    for part in content:
        paragraph += nodes.Text(part) if isinstance(part, str) else part
    entry += paragraph
    return entry


def _table(header: list[str], rows: list[list[nodes.entry]], widths: list[int]) -> nodes.table:
    table = nodes.table(classes=["rtc-reference"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for title in header:
        row += _cell(title)
    head += row
    body = nodes.tbody()
    group += body
    for cells in rows:
        row = nodes.row()
        for cell in cells:
            row += cell
        body += row
    return table


def _meaning(schema: dict[str, Any], description: str | None = None) -> nodes.entry:
    text, details = description or schema.get("description", ""), _details(schema)
    return _cell(f"{text} ({details})" if text and details else text or details)


def _property_rows(schema: dict[str, Any], prefix: str = "", depth: int = 0) -> list[list[nodes.entry]]:
    rows = []
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        rows.append(
            [
                _cell(nodes.literal(text=prefix + name)),
                _cell(*type_nodes(prop)),
                _cell("yes" if name in required else ""),
                _meaning(prop),
            ]
        )
        if prop.get("type") == "object" and prop.get("properties") and depth < 2:  # an inline object: its fields
            rows.extend(_property_rows(prop, f"{prefix}{name}.", depth + 1))
    return rows


def _body_nodes(content: dict[str, Any]) -> list[nodes.Node]:
    """``application/json``: a link to the schema, or its type; other media types by name."""
    result: list[nodes.Node] = []
    for i, (media, body) in enumerate(content.items()):
        if i:
            result.append(nodes.Text("; "))
        result.append(nodes.literal(text=media))
        if "schema" in body:
            result.extend([nodes.Text(" "), *type_nodes(body["schema"])])
    return result


class RestOperations(SphinxDirective):
    option_spec = {"prefix": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        prefix = self.options.get("prefix", "")
        result: list[nodes.Node] = []
        for path, operations in _spec()["paths"].items():
            if not path.startswith(prefix):
                continue
            shared = operations.get("parameters", [])
            for method, operation in operations.items():
                if method != "parameters":
                    result.extend(self._operation(method, path, operation, shared))
        if not result:
            raise self.error(f"spec.json has no path under {prefix!r}")
        return result

    def _operation(self, method: str, path: str, operation: dict[str, Any], shared: list[dict]) -> list[nodes.Node]:
        container = nodes.container(ids=[operation_id(method, path)], classes=["rtc-operation"])
        title = nodes.rubric()
        title += nodes.literal(text=f"{method.upper()} {path}")
        container += title
        if operation.get("summary"):
            summary = nodes.paragraph()
            summary += nodes.strong(text=operation["summary"])
            container += summary
        if operation.get("description"):
            container += nodes.paragraph(text=operation["description"])
        parameters = [*shared, *operation.get("parameters", [])]
        if parameters:
            rows = [
                [
                    _cell(nodes.literal(text=p["name"])),
                    _cell(p["in"]),
                    _cell(*type_nodes(p.get("schema", {}))),
                    _cell("yes" if p.get("required") else ""),
                    _meaning(p.get("schema", {}), p.get("description")),
                ]
                for p in parameters
            ]
            container += _table(["Parameter", "In", "Type", "Required", "Meaning"], rows, [14, 8, 16, 8, 54])
        body = operation.get("requestBody")
        if body:
            paragraph = nodes.paragraph()
            paragraph += nodes.strong(text="Request body" + ("" if body.get("required") else " (optional)") + ": ")
            for node in _body_nodes(body["content"]):
                paragraph += node
            if body.get("description"):
                paragraph += nodes.Text(f". {body['description']}")
            container += paragraph
        rows = [
            [_cell(status), _cell(*_body_nodes(answer.get("content", {}))), _cell(answer.get("description", ""))]
            for status, answer in operation["responses"].items()
        ]
        container += _table(["Status", "Body", "Meaning"], rows, [8, 32, 60])
        return [container]


class RestSchemas(SphinxDirective):
    def run(self) -> list[nodes.Node]:
        result: list[nodes.Node] = []
        for name, schema in _spec()["components"]["schemas"].items():
            container = nodes.container(ids=[schema_id(name)], classes=["rtc-schema"])
            title = nodes.rubric()
            title += nodes.literal(text=name)
            if schema.get("title"):
                title += nodes.Text(f" — {schema['title']}")
            container += title
            if schema.get("description"):
                container += nodes.paragraph(text=schema["description"])
            if schema.get("properties"):
                rows = _property_rows(schema)
                container += _table(["Field", "Type", "Required", "Meaning"], rows, [18, 22, 8, 52])
            else:
                paragraph = nodes.paragraph(text="Type: ")
                for node in type_nodes({k: v for k, v in schema.items() if k != "description"}):
                    paragraph += node
                details = _details(schema)
                if details:
                    paragraph += nodes.Text(f"; {details}")
                container += paragraph
            result.append(container)
        return result


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("rest-operations", RestOperations)
    app.add_directive("rest-schemas", RestSchemas)
    return {"parallel_read_safe": True, "version": "1"}
