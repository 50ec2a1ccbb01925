"""NHSA_FIELDS.md -> gateway/his/spec/nhsa_fields.json: every input and output node of every
transaction in the published field reference, with the shared blocks (SETLINFO, CERT, SETLDETAIL,
FEERESULT) and the "= **2101 druginfo** — ..." references resolved into full field lists.

    .venv/bin/python infra/nhsa/make_fields.py [NHSA_FIELDS.md] [--out FILE] [--check]

The source defaults to ../shared/NHSA_FIELDS.md beside the repository. --check writes nothing and
exits 1 when the committed JSON differs from what this source produces. The output is a pure
function of the document's text: the same text gives the same bytes.

How the document is read (and nothing else is assumed):

* `## 2207 name` opens a transaction (`## 3101 a / 3102 b` two sharing every table); a node is
  `**in `name`** (kind)` / `**out `name`** (kind)` (3101's `**`name`**` / `**`name (out)`**`);
  a table `field|名称|T|len|R|dict|note` follows it.
* `= **SETLINFO**` / `= **2101 druginfo**`: the node is that block or that node of the same
  direction, then `— without a, b` (fields removed; `exp_content` there drops the extension),
  `— changed: f: R optional; g: R=Y; h: len —; k: type C, len 16,2; m: <free text>` (free text
  replaces the note) and `; extra fields:` (the table that follows is appended).
* `+ exp_content`: the node carries exp_content (C 4000, optional), added as a field at the end
  unless the table has its own exp_content row. `+ **CERT** — ...`: the CERT group, with its own
  without / changed, comes before the node's table.
* A node whose name is a LIST / MAP (or blank-typed) field of another node of the same direction
  sits inside each row of that node (`"parent"`).

Where the document is ambiguous, the reading chosen is the one closest to the national baseline;
each such choice is one entry of RESOLUTIONS below, which checks that the document still says what
it resolved (the generator stops when it does not) and records its reason under "notes".
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.nhsa.render import render

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "NHSA_FIELDS.md"
DEFAULT_OUT = REPO_ROOT / "gateway" / "his" / "spec" / "nhsa_fields.json"

LEGEND = {
    "type": {
        "C": "字符型: a JSON string",
        "N": "数值型: a JSON number, never a quoted string (len '16,2' = 16 digits, 2 of them decimals)",
        "D": "日期型: 'yyyy-MM-dd' (or '' when empty)",
        "DT": "日期时间型: 'yyyy-MM-dd HH:mm:ss' (or '' when empty)",
        "DIGITS": "数字型 (feedetl_sn of 2101/2102/2204/2301 inputs): digits only, not 0, at most 15 digits; "
                  "the document does not say JSON number or digit string, so both are accepted",
        "LIST": "a JSON array (its rows are described by the nested node of the same name, when there is one)",
        "MAP": "a JSON object of string values",
        "OBJ": "a JSON object",
        "BYTES": "file content (multipart), not JSON",
        "TIMESTAMP": "13-digit epoch milliseconds (gateway header)",
    },
    "required": "R = Y: 是否必填 for inputs, 是否非空 (never empty) for outputs",
    "dict": "dictionary name in NHSA_CODES.md, or null; dict_doc is the document's cell as written "
            "(✓ flagged, (name) values from that dictionary but not flagged, name† no such table)",
    "node": "kind obj = JSON object, list = JSON array of objects (may be empty), map = object of strings; "
            "node name '$' = the rows sit directly under input/output; parent = the node whose rows hold this one",
}

EXP_CONTENT = {"type": "C", "len": "4000", "required": False, "dict": None, "dict_doc": "",
               "name_zh": "字段扩展", "note": "JSON object serialised as a string (e.g. the cross-province keys)"}

TYPES = {"C": "C", "N": "N", "**N**": "N", "D": "D", "DT": "DT", "数字型": "DIGITS", "N(整型)": "N",
         "list": "LIST", "map": "MAP", "timestamp": "TIMESTAMP", "": "", "(blank in doc)": ""}


class SpecError(ValueError):
    """The document does not read the way this generator understands it (line number in the text)."""


# ----------------------------------------------------------------------------- raw document model

@dataclass
class Mods:
    """`— without a, b — changed: f: R optional; g: text` of a reference or of `+ **CERT**`."""
    without: list[str] = field(default_factory=list)
    changed: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class RawNode:
    direction: str                      # "in" | "out" | "file"
    name: str
    kind: str                           # obj | list | map | file
    kind_doc: str
    line: int
    ref: str | None = None              # "SETLINFO" | "2101 druginfo"
    ref_mods: Mods = field(default_factory=Mods)
    extras: bool = False                # "extra fields:" — the table is appended to the reference
    exp_marker: bool = False
    cert: Mods | None = None
    table: dict[str, dict[str, Any]] = field(default_factory=dict)
    parent_doc: str | None = None       # "(inside each drugdetail)"


@dataclass
class RawTransaction:
    codes: list[str]
    names: dict[str, str]
    heading: str
    line: int
    remarks: list[str] = field(default_factory=list)
    nodes: list[RawNode] = field(default_factory=list)
    prose: list[str] = field(default_factory=list)  # bullet lines (9101/9102)


@dataclass
class RawDoc:
    title: str
    request: dict[str, dict[str, Any]]
    response: dict[str, dict[str, Any]]
    encoding_rules: list[str]
    headers: dict[str, dict[str, Any]]
    blocks: dict[str, RawNode]
    block_remarks: list[str]
    transactions: list[RawTransaction]
    legend: str


# ----------------------------------------------------------------------------- line grammar

HEADER7 = "field|名称|T|len|R|dict|note"
HEADER6 = "|field|名称|T|len|R|note|"
HEADER_GW = "|header|名称|T|len|R|value|"
SEPARATOR = re.compile(r"^\|?-(\|-)+\|?$")
NODE = re.compile(r"^\*\*(in|out|file) `([^`]+)`\*\* \((.*)\)\s*$")
NODE_BARE = re.compile(r"^\*\*`([^`]+)`\*\* \((.*?)\)(?::\s*(.*))?\s*$")
BLOCK = re.compile(r"^\*\*([A-Z]+)\*\* is (.*)$")
REF = re.compile(r"^= \*\*([A-Z]+|\d{4} \w+)\*\*(.*)$")
CERT = re.compile(r"^\+ \*\*CERT\*\*(.*)$")
TX_HEADING = re.compile(r"^## (\d{4}\b.*)$")
MOD_SPLIT = re.compile(r"\s+—\s+(?=without |changed: )")
EXTRAS = re.compile(r"(?:;\s*|\s*)extra fields:\s*$")
CHANGE_ITEM = re.compile(r"^(\w+): (.+)$")


def _cells(line: str, ncols: int, lineno: int, *, piped: bool) -> list[str]:
    """piped: the table writes a leading and a trailing '|' on every line (the envelope tables)."""
    text = line.strip()
    if piped:
        if not (text.startswith("|") and text.endswith("|")):
            raise SpecError(f"line {lineno}: '|' expected at both ends: {line!r}")
        text = text[1:-1]
    cells = text.split("|")
    if len(cells) != ncols:
        raise SpecError(f"line {lineno}: {len(cells)} cells, expected {ncols}: {line!r}")
    return [c.strip() for c in cells]


def _dict_of(cell: str, name: str) -> str | None:
    if not cell:
        return None
    if cell == "✓":
        return name
    m = re.fullmatch(r"\((\w+)\)|(\w+)†?", cell)
    if not m:
        raise SpecError(f"dict cell {cell!r} of {name}")
    return m.group(1) or m.group(2)


def _field(cells: list[str], *, has_dict: bool, lineno: int) -> tuple[str, dict[str, Any]]:
    if has_dict:
        name, zh, t, length, r, dict_doc, note = cells
    else:
        name, zh, t, length, r, note = cells
        dict_doc = ""
    if t not in TYPES:
        raise SpecError(f"line {lineno}: unknown type {t!r} of {name}")
    if r not in ("Y", ""):
        raise SpecError(f"line {lineno}: unknown R {r!r} of {name}")
    if not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise SpecError(f"line {lineno}: bad field name {name!r}")
    if t == "N(整型)":
        note = "整型 (an integer)" + (f"; {note}" if note else "")
    return name, {"type": TYPES[t], "len": length, "required": r == "Y", "dict": _dict_of(dict_doc, name),
                  "dict_doc": dict_doc, "name_zh": zh, "note": note}


def _mods(text: str, lineno: int) -> Mods:
    """' — without a, b — changed: f: R optional; g: R=Y' (the 'extra fields:' tail already cut)."""
    mods = Mods()
    text = text.strip()
    if not text:
        return mods
    if not text.startswith("— "):
        raise SpecError(f"line {lineno}: cannot read {text!r}")
    for part in MOD_SPLIT.split(" " + text[2:].strip()):
        part = part.strip()
        if part.startswith("without "):
            mods.without += [w.strip() for w in part[len("without "):].split(",") if w.strip()]
        elif part.startswith("changed: "):
            for item in part[len("changed: "):].split("; "):
                m = CHANGE_ITEM.match(item.strip())
                if not m:
                    raise SpecError(f"line {lineno}: cannot read change {item!r}")
                mods.changed.append((m.group(1), m.group(2).strip()))
        else:
            raise SpecError(f"line {lineno}: cannot read {part!r}")
    return mods


def _kind(doc: str, lineno: int) -> tuple[str, str | None]:
    """(kind, parent named by the document) from the node heading's parenthesis."""
    head = re.split(r"[;,]", doc, maxsplit=1)[0].strip()
    m = re.fullmatch(r"list \(inside each (\w+)\)", head)
    if m:
        return "list", m.group(1)
    if head in ("obj", "list", "list/obj", "map") or head == "list (doc: 多行)":
        return {"list/obj": "list", "list (doc: 多行)": "list"}.get(head, head), None
    if head.startswith("TAB-separated"):
        return "file", None
    raise SpecError(f"line {lineno}: unknown node kind {doc!r}")


def _audit_fields(doc: str, lineno: int) -> dict[str, dict[str, Any]]:
    """1312's '(list; + audit fields rid 唯一记录号 C40 Y, updt_time 更新时间 D Y, ...)'."""
    if "; + audit fields " not in doc:
        return {}
    out = {}
    for item in doc.split("; + audit fields ", 1)[1].split(", "):
        m = re.fullmatch(r"(\w+) (\S+) (C|N|DT|D)(\d*)( Y)?", item.strip())
        if not m:
            raise SpecError(f"line {lineno}: cannot read audit field {item!r}")
        out[m.group(1)] = {"type": m.group(3), "len": m.group(4), "required": bool(m.group(5)), "dict": None,
                           "dict_doc": "", "name_zh": m.group(2), "note": "audit field (listed in the node heading)"}
    return out


def _map_fields(text: str, lineno: int) -> dict[str, dict[str, Any]]:
    """3101's 'o_prdDays 周期天数 (10); o_firstItemFlag 半年内使用一线用药标志 (5) 1 used/0 not; ...'."""
    out = {}
    for item in text.split("; "):
        m = re.fullmatch(r"(\w+) (\S+) \((\d+)\)\s*(.*)", item.strip())
        if not m:
            raise SpecError(f"line {lineno}: cannot read map key {item!r}")
        out[m.group(1)] = {"type": "C", "len": m.group(3), "required": False, "dict": None, "dict_doc": "",
                           "name_zh": m.group(2), "note": m.group(4)}
    return out


class _Lines:
    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.i = 0

    def peek(self) -> str | None:
        return self.lines[self.i] if self.i < len(self.lines) else None

    def next(self) -> str:
        line = self.lines[self.i]
        self.i += 1
        return line

    @property
    def lineno(self) -> int:
        return self.i  # 1-based number of the line last read

    def skip_blank(self) -> None:
        while (line := self.peek()) is not None and not line.strip():
            self.i += 1

    def table(self, *, has_dict: bool) -> dict[str, dict[str, Any]]:
        """The table whose header line is next (after blanks)."""
        self.skip_blank()
        header = self.next().strip()
        ncols = 7 if has_dict else 6
        if not SEPARATOR.match(self.next().strip()):
            raise SpecError(f"line {self.lineno}: table separator expected after {header!r}")
        rows: dict[str, dict[str, Any]] = {}
        while (upcoming := self.peek()) is not None and "|" in upcoming:
            line = self.next()
            cells = _cells(line, ncols, self.lineno, piped=header.startswith("|"))
            name, spec = _field(cells, has_dict=has_dict, lineno=self.lineno)
            if name in rows:
                raise SpecError(f"line {self.lineno}: {name} twice in one table")
            rows[name] = spec
        return rows


def _table_follows(lines: _Lines) -> bool:
    j = lines.i
    while j < len(lines.lines) and not lines.lines[j].strip():
        j += 1
    return j < len(lines.lines) and lines.lines[j].strip() == HEADER7


def _read_node(lines: _Lines, direction: str, name: str, kind_doc: str, tail: str | None) -> RawNode:
    kind, parent_doc = _kind(kind_doc, lines.lineno)
    node = RawNode(direction=direction, name=name, kind=kind, kind_doc=kind_doc, line=lines.lineno,
                   parent_doc=parent_doc)
    if kind == "map":
        node.table = _map_fields(tail or "", lines.lineno)
        return node
    lines.skip_blank()
    ref = REF.match(lines.peek() or "")
    if ref:
        lines.next()
        node.ref = ref.group(1)
        rest = ref.group(2)
        node.extras = bool(EXTRAS.search(rest))
        node.ref_mods = _mods(EXTRAS.sub("", rest), lines.lineno)
    while True:
        lines.skip_blank()
        line = (lines.peek() or "").strip()
        if line == "+ exp_content":
            lines.next()
            node.exp_marker = True
        elif cert := CERT.match(line):
            lines.next()
            node.cert = _mods(cert.group(1), lines.lineno)
        else:
            break
    if node.ref is None or node.extras:
        if not _table_follows(lines):
            raise SpecError(f"line {node.line}: node {name} has no table")
        node.table = lines.table(has_dict=True)
    elif _table_follows(lines):
        raise SpecError(f"line {node.line}: a table follows {name} = {node.ref} without 'extra fields:'")
    node.table.update(_audit_fields(kind_doc, node.line))
    return node


def _tx_heading(text: str, lineno: int) -> tuple[list[str], dict[str, str]]:
    """'3101 明细审核事前分析服务 / 3102 明细审核事中分析服务 (pre-/in-event rule audit)'."""
    parts = text.split(" / ")
    codes, names = [], {}
    for part in parts:
        m = re.fullmatch(r"(\d{4})(?: (.*))?", part.strip())
        if not m:
            raise SpecError(f"line {lineno}: cannot read heading {text!r}")
        codes.append(m.group(1))
        names[m.group(1)] = (m.group(2) or "").strip()
    fallback = names[codes[-1]]
    tail = re.search(r" (\([^()]*\))$", fallback)
    for code in codes:
        if not names[code]:
            names[code] = fallback
        elif tail and not names[code].endswith(tail.group(1)):
            names[code] += " " + tail.group(1)
    return codes, names


def parse(text: str) -> RawDoc:
    lines = _Lines(text)
    title = lines.lines[0].lstrip("# ").strip()
    legend = next((ln for ln in lines.lines if ln.startswith("**Legend.**")), "")
    request = response = headers = None
    rules: list[str] = []
    block_remarks: list[str] = []
    blocks: dict[str, RawNode] = {}
    txs: list[RawTransaction] = []
    section = ""
    tx: RawTransaction | None = None
    while lines.peek() is not None:
        line = lines.next()
        s = line.strip()
        if s.startswith("## "):
            m = TX_HEADING.match(s)
            if m:
                codes, names = _tx_heading(m.group(1), lines.lineno)
                tx = RawTransaction(codes=codes, names=names, heading=m.group(1), line=lines.lineno)
                txs.append(tx)
                section = "tx"
            else:
                tx = None
                section = s
            continue
        if section.startswith("## 1. ") and s == HEADER6:
            lines.i -= 1
            request = lines.table(has_dict=False)
        elif section.startswith("## 2. ") and s == HEADER6:
            lines.i -= 1
            response = lines.table(has_dict=False)
        elif section.startswith("## 2. ") and s.startswith("- "):
            rules.append(s[2:])
        elif section.startswith("## 3. ") and s == HEADER_GW:
            lines.i -= 1
            headers = lines.table(has_dict=False)
        elif section.startswith("## 4. ") and (m := BLOCK.match(s)):
            kinds = re.findall(r"\((obj|list)\)", m.group(2))
            blocks[m.group(1)] = _read_node(lines, "block", m.group(1), kinds[0] if kinds else "obj", None)
            if not kinds:
                blocks[m.group(1)].kind = "group"
            block_remarks.append(s)
        elif section.startswith("## 4. ") and s:
            if "|" in s:
                raise SpecError(f"line {lines.lineno}: table outside a block: {s!r}")
            block_remarks.append(s)
        elif section == "tx" and tx is not None:
            m = NODE.match(s)
            if m:
                tx.nodes.append(_read_node(lines, m.group(1), m.group(2), m.group(3), None))
                continue
            m = NODE_BARE.match(s)
            if m:
                name, direction = m.group(1), "in"
                if name.endswith(" (out)"):
                    name, direction = name[: -len(" (out)")], "out"
                if name.endswith(" keys"):
                    name = name[: -len(" keys")]
                tx.nodes.append(_read_node(lines, direction, name, m.group(2), m.group(3)))
                continue
            if s.startswith("- "):
                tx.prose.append(s[2:])
            elif s and not tx.nodes:
                tx.remarks.append(s)
            elif s:  # after the first node, only nodes (and bullets) are understood: stop at anything else
                raise SpecError(f"line {lines.lineno}: cannot place {s!r} (not a node heading)")
    if request is None or response is None or headers is None:
        raise SpecError("the request / response envelope or the gateway header table is missing")
    return RawDoc(title=title, request=request, response=response, encoding_rules=rules, headers=headers,
                  blocks=blocks, block_remarks=block_remarks, transactions=txs, legend=legend)


# ----------------------------------------------------------------------------- resolution

def _apply_change(spec: dict[str, Any], text: str) -> None:
    parts = text.split(", ")
    edits: list[tuple[str, Any]] = []
    for part in parts:
        if part == "R optional":
            edits.append(("required", False))
        elif part == "R=Y":
            edits.append(("required", True))
        elif part == "len —":
            edits.append(("len", ""))
        elif re.fullmatch(r"len [\d,]+", part):
            edits.append(("len", part[4:]))
        elif re.fullmatch(r"type (C|N|D|DT)", part):
            edits.append(("type", part[5:]))
        else:
            edits = [("note", text)]  # free text: the note the document gives this field here
            break
    for key, value in edits:
        spec[key] = value


def _apply_mods(fields: dict[str, dict[str, Any]], exp: bool, mods: Mods, where: str) -> bool:
    for name in mods.without:
        if name == "exp_content":
            if not exp and name not in fields:
                raise SpecError(f"{where}: without exp_content, which it does not carry")
            exp = False
            fields.pop(name, None)
        elif name in fields:
            del fields[name]
        else:
            raise SpecError(f"{where}: without {name}, which it does not have")
    for name, text in mods.changed:
        if name not in fields:
            raise SpecError(f"{where}: changed {name}, which it does not have")
        _apply_change(fields[name], text)
    return exp


class Resolver:
    def __init__(self, doc: RawDoc):
        self.doc = doc
        self.by_key: dict[tuple[str, str, str], RawNode] = {}
        for tx in doc.transactions:
            for node in tx.nodes:
                for code in tx.codes:
                    key = (code, node.direction, node.name)
                    if key in self.by_key:
                        raise SpecError(f"line {node.line}: {code} {node.direction} {node.name} twice")
                    self.by_key[key] = node
        self.done: dict[int, tuple[dict[str, dict[str, Any]], bool]] = {}
        self.busy: set[int] = set()

    def target(self, ref: str, direction: str, where: str) -> RawNode:
        if ref in self.doc.blocks:
            return self.doc.blocks[ref]
        code, name = ref.split(" ")
        node = self.by_key.get((code, direction, name))
        if node is None:
            raise SpecError(f"{where}: refers to {ref} ({direction}), which the document does not define")
        return node

    def resolve(self, node: RawNode) -> tuple[dict[str, dict[str, Any]], bool]:
        """(fields without the marker exp_content, carries exp_content)."""
        if id(node) in self.done:
            return copy.deepcopy(self.done[id(node)])
        where = f"line {node.line} ({node.direction} {node.name})"
        if id(node) in self.busy:
            raise SpecError(f"{where}: circular reference")
        self.busy.add(id(node))
        fields: dict[str, dict[str, Any]] = {}
        exp = False
        if node.ref:
            fields, exp = self.resolve(self.target(node.ref, node.direction, where))
            exp = _apply_mods(fields, exp, node.ref_mods, where)
        if node.cert is not None:
            cert, _ = self.resolve(self.doc.blocks["CERT"])
            _apply_mods(cert, False, node.cert, where + " CERT")
            for name, spec in cert.items():
                if name in fields:
                    raise SpecError(f"{where}: CERT field {name} is already there")
                fields[name] = spec
        for name, spec in node.table.items():
            if name in fields:
                raise SpecError(f"{where}: extra field {name} is already there")
            fields[name] = copy.deepcopy(spec)
        exp = exp or node.exp_marker or "exp_content" in fields
        self.busy.discard(id(node))
        self.done[id(node)] = (fields, exp)
        return copy.deepcopy((fields, exp))


def _finish(fields: dict[str, dict[str, Any]], exp: bool) -> dict[str, dict[str, Any]]:
    if exp and "exp_content" not in fields:
        fields["exp_content"] = dict(EXP_CONTENT)
    return fields


def _node_json(kind: str, fields: dict[str, dict[str, Any]], exp: bool, *, ref: str | None = None,
               parent: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "exp_content": exp, "ref": ref, "parent": parent, "fields": _finish(fields, exp)}


def _parents(nodes: dict[str, dict[str, Any]], where: str) -> None:
    """A node named like a LIST/MAP (or untyped) field of another node sits inside that node's rows."""
    for name, node in nodes.items():
        holders = [other for other, spec in nodes.items() if other != name
                   and name in spec["fields"] and spec["fields"][name]["type"] in ("LIST", "MAP", "")]
        if len(holders) > 1:
            raise SpecError(f"{where}: {name} is a field of {holders}")
        if node["parent"] is not None and holders != [node["parent"]]:
            raise SpecError(f"{where}: {name} is said to be inside {node['parent']} but is a field of {holders}")
        if holders:
            node["parent"] = holders[0]
            nodes[holders[0]]["fields"][name]["type"] = {"list": "LIST", "map": "MAP"}[node["kind"]]


def _prose_nodes(tx: RawTransaction, known: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """9101/9102 as bullets: '- **9101 upload**: input node `fsUploadIn` (obj) with `in` (bytes, file
    content), `filename` (C200) ... Output (no node): `file_qury_no` (C30), `filename`, ...'.
    A field given without a type takes the one of the same name given earlier (recorded in notes)."""
    out: dict[str, dict[str, Any]] = {}
    for bullet in tx.prose:
        m = re.match(r"\*\*(\d{4}) (\w+)\*\*: (.*)$", bullet)
        if not m or m.group(1) not in tx.codes:
            raise SpecError(f"line {tx.line}: cannot read bullet {bullet!r}")
        code, text = m.group(1), m.group(3)
        entry = out.setdefault(code, {"input": {}, "output": {}, "inherited": [], "binary_output": False,
                                      "label": m.group(2)})
        for sentence in re.split(r"(?<=\.) (?=[A-Z])", text):
            nm = re.match(r"input node `(\w+)` \((obj)\) with (.*)$", sentence)
            om = re.match(r"Output \(no node\): (.*)$", sentence)
            if nm:
                direction, node_name, body = "input", nm.group(1), nm.group(3)
            elif om:
                direction, node_name, body = "output", "$", om.group(1)
            elif re.match(r"Output: a ZIP byte stream\.?$", sentence):
                entry["binary_output"] = True
                continue
            else:
                continue
            fields: dict[str, dict[str, Any]] = {}
            for fm in re.finditer(r"`(\w+)`(?: \(([^)]*)\))?", body):
                name, spec = fm.group(1), fm.group(2)
                tm = re.fullmatch(r"(C|N|D|DT)(\d+)", spec or "")
                if tm:
                    fields[name] = {"type": tm.group(1), "len": tm.group(2), "required": False, "dict": None,
                                    "dict_doc": "", "name_zh": "", "note": ""}
                elif spec and spec.startswith("bytes"):
                    fields[name] = {"type": "BYTES", "len": "", "required": False, "dict": None, "dict_doc": "",
                                    "name_zh": "", "note": spec.partition(", ")[2]}
                elif spec is None and name in known:
                    fields[name] = copy.deepcopy(known[name])
                    entry["inherited"].append(f"{direction} {node_name}.{name}")
                else:
                    raise SpecError(f"line {tx.line}: cannot type {name} ({spec})")
                known.setdefault(name, fields[name])
            entry[direction][node_name] = _node_json("obj", fields, False)
    return out


def build(text: str, *, resolutions: bool = True) -> dict[str, Any]:
    """The spec of the document. resolutions=False leaves out RESOLUTIONS (which check the
    published document's wording): the document's reading alone, for the generator's own tests."""
    doc = parse(text)
    if "`+ exp_content` = the node also carries exp_content 字段扩展 (C 4000, optional;" not in doc.legend:
        raise SpecError("the legend no longer describes exp_content as C 4000, optional")
    resolver = Resolver(doc)
    blocks = {}
    for name, node in doc.blocks.items():
        fields, exp = resolver.resolve(node)
        blocks[name] = _node_json(node.kind, fields, exp)
    transactions: dict[str, dict[str, Any]] = {}
    for tx in doc.transactions:
        nodes: dict[str, dict[str, dict[str, Any]]] = {"in": {}, "out": {}, "file": {}}
        for node in tx.nodes:
            fields, exp = resolver.resolve(node)
            nodes[node.direction][node.name] = _node_json(node.kind, fields, exp, ref=node.ref,
                                                          parent=node.parent_doc)
        for direction in ("in", "out"):
            _parents(nodes[direction], f"{tx.heading} {direction}")
        prose = _prose_nodes(tx, {}) if tx.prose else {}
        for code in tx.codes:
            entry: dict[str, Any] = {
                "name": tx.names[code],
                "input": copy.deepcopy(nodes["in"]),
                "output": copy.deepcopy(nodes["out"]),
                "files": {name: {"format": spec["kind"], "fields": spec["fields"]}
                          for name, spec in copy.deepcopy(nodes["file"]).items()},
                "output_none": any(r.startswith("Output: none.") for r in tx.remarks),
                "binary_output": False,
                "remarks": list(tx.remarks),
                "notes": [],
            }
            for name in entry["files"]:
                entry["files"][name]["format"] = next(n.kind_doc for n in tx.nodes if n.name == name)
            if code in prose:
                p = prose[code]
                entry["input"].update(p["input"])
                entry["output"].update(p["output"])
                entry["binary_output"] = p["binary_output"]
                entry["remarks"] += [b for b in tx.prose if b.startswith(f"**{code} ")]
                entry["name"] = f"{p['label']} — {entry['name']}"
                if p["inherited"]:
                    entry["notes"].append("The bullets give no type for " + ", ".join(p["inherited"])
                                          + ": each takes the type of the field of the same name given before it "
                                          "(9101 input / output); required flags are not given (false).")
            transactions[code] = entry
    spec = {
        "source": {"title": doc.title, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                   "generator": "infra/nhsa/make_fields.py"},
        "legend": LEGEND,
        "envelope": {
            "request": _node_json("obj", copy.deepcopy(doc.request), False),
            "response": _node_json("obj", copy.deepcopy(doc.response), False),
            "encoding_rules": doc.encoding_rules,
            "notes": [],
        },
        "gateway_headers": {"api_hmac_sha1": _node_json("obj", copy.deepcopy(doc.headers), False), "notes": []},
        "blocks": blocks,
        "block_remarks": doc.block_remarks,
        "transactions": dict(sorted(transactions.items())),
    }
    for resolution in RESOLUTIONS if resolutions else ():
        resolution(spec)
    return spec


# ----------------------------------------------------------------------------- resolutions

def _field_at(spec: dict[str, Any], path: str) -> dict[str, Any]:
    """'2208 out setlinfo.psn_cash_pay' / 'envelope request.opter_type'."""
    where, _, name = path.rpartition(".")
    node = _node_at(spec, where)
    if name not in node["fields"]:
        raise SpecError(f"resolution: {path} is not in the document any more")
    return node["fields"][name]


def _node_at(spec: dict[str, Any], where: str) -> dict[str, Any]:
    """'2208 out setlinfo' / 'envelope request'."""
    if where.startswith("envelope "):
        return spec["envelope"][where.split(" ")[1]]
    head, direction, node = where.split(" ")
    tx = spec["transactions"][head]
    nodes = tx["input" if direction == "in" else "output"]
    if node not in nodes:
        raise SpecError(f"resolution: {where} is not in the document any more")
    return nodes[node]


def _expect(cond: bool, what: str) -> None:
    if not cond:
        raise SpecError(f"resolution no longer applies, the document changed: {what}")


def _note(spec: dict[str, Any], code: str, text: str) -> None:
    if code == "envelope":
        spec["envelope"]["notes"].append(text)
    else:
        spec["transactions"][code]["notes"].append(text)


def _remark_says(spec: dict[str, Any], code: str, words: str) -> bool:
    return any(words in r for r in spec["transactions"][code]["remarks"])


def r_opter_type(spec):
    f = _field_at(spec, "envelope request.opter_type")
    _expect(f["type"] == "" and "代码标识 Y" in f["note"], "request opter_type has no type and is a code")
    f["type"], f["dict"] = "C", "opter_type"
    _note(spec, "envelope", "request.opter_type: the T column is blank in the document; typed C (the national baseline's "
                            "字符型, len 3) with the opter_type dictionary its note names. The dictionary table lists only "
                            "'1 经办机构用户' (doc); clients also send it as a number (accepted on input).")


def r_infcode(spec):
    f = _field_at(spec, "envelope response.infcode")
    _expect(f["type"] == "N" and "string" in f["note"], "response infcode N with the string sample")
    _note(spec, "envelope", "response.infcode: N (0 success, -1 failure) and written as a JSON number; the appendix "
                            "sample's string \"1\" (doc) is not followed.")


def r_envelope_objects(spec):
    for where in ("envelope request.input", "envelope response.output"):
        f = _field_at(spec, where)
        _expect(f["type"] == "C" and f["len"] == "40000", f"{where} typed C 40000")
        f["type"] = "OBJ"
    _note(spec, "envelope", "request.input / response.output: the table types them C 40000; both are the JSON object "
                            "holding the nodes (Appendix B: input = {\"data\":{...}}), so typed OBJ. An input that "
                            "arrives as a JSON string holding the object is accepted.")


def r_sign_time(spec):
    for code, node in (("9001", "signinoutb"), ("9002", "signoutoutb")):
        f = _field_at(spec, f"{code} out {node}.sign_time")
        _expect(f["type"] == "D", f"{code} sign_time typed D")
        f["type"] = "DT"
    _expect(_remark_says(spec, "9001", "formatted as datetime"), "9001 says sign_time is formatted as datetime")
    _note(spec, "9001", "signinoutb.sign_time: typed 日期型 but formatted as a datetime (doc); written as DT "
                        "'yyyy-MM-dd HH:mm:ss' (the format wins, as everywhere the type and the shown format disagree).")
    _expect(_remark_says(spec, "9002", "signoutoutb"), "9002 names signoutoutb as the baseline node")
    _note(spec, "9002", "The output node's label reads 'sign_time' in the document (doc); the national baseline's "
                        "signoutoutb is used. signoutoutb.sign_time typed D there, written as DT like 9001's.")


def r_insuinfo(spec):
    node = _node_at(spec, "1101 out insuinfo")
    _expect(node["kind"] == "list", "1101 insuinfo a list")
    _expect(_remark_says(spec, "1101", "psn_insu_rlts_id and insu_admdvs"), "1101 sample's extra insuinfo fields")
    _note(spec, "1101", "insuinfo is a list (多行); Appendix B's sample shows an object (doc). The sample also shows "
                        "insuinfo.psn_insu_rlts_id and insu_admdvs, which the table (and the national baseline) does not "
                        "list: not part of the spec here, welcome as extras.")


def r_1312_root(spec):
    out = spec["transactions"]["1312"]["output"]
    _expect(list(out) == ["(none: rows under output)"], "1312 output rows directly under output")
    out["$"] = out.pop("(none: rows under output)")
    _note(spec, "1312", "The output has no node: the rows sit directly under output (node '$', a list) with the audit "
                        "fields of the heading appended. The national baseline pages this list; check the wrapper locally.")


def r_1901_int(spec):
    for name in ("sort", "version"):
        _expect(_field_at(spec, f"1901 out list.{name}")["note"].startswith("整型"), f"1901 {name} N(整型)")
    _note(spec, "1901", "list.sort and list.version are N(整型): typed N, an integer (the note says so). The input's "
                        "Vali_Flag and the output's camelCase names are kept as the document spells them.")


def r_digits(spec):
    for code, node in (("2101", "drugdetail"), ("2102", "drugdetail"), ("2204", "feedetail"), ("2301", "feedetail")):
        _expect(_field_at(spec, f"{code} in {node}.feedetl_sn")["type"] == "DIGITS", f"{code} feedetl_sn 数字型")
        _note(spec, code, f"{node}.feedetl_sn is 数字型 (DIGITS): the document does not say JSON number or digit string "
                          "(uncertain); the national baseline types it 字符型 C 30, so a digit string and a JSON integer "
                          "are both accepted. Outputs echo it as C (FEERESULT.feedetl_sn).")


def r_drug_trac(spec):
    _expect("durg_trac_info" in spec["transactions"]["2102"]["input"], "2102 durg_trac_info node")
    _expect(_remark_says(spec, "2102", "drug_trac_info"), "2102 remark on the spelling")
    _note(spec, "2102", "The traceability node is spelled durg_trac_info in the table and drug_trac_info in the change "
                        "log (doc); the national baseline of 2021-12-30 has neither. Kept as the table spells it (what "
                        "clients built on this edition send); an input should accept drug_trac_info too.")


def r_2103_renames(spec):
    for name, old in (("psn_part_amt", "psn_pay"), ("psn_cash_pay", "cash_payment")):
        _expect(f"renamed from {old}" in _field_at(spec, f"2103 out setlinfo.{name}")["note"], f"2103 {name} renamed")
    _note(spec, "2103", "setlinfo.psn_part_amt / psn_cash_pay: the document renames its table's psn_pay / cash_payment to "
                        "the settlement output's names; the renamed names are the spec (the old ones may be sent as extras).")


def r_2208_pdn(spec):
    fields = _node_at(spec, "2208 out setlinfo")["fields"]
    _expect("pdn_cash_pay" in fields and "psn_cash_pay" not in fields, "2208 setlinfo pdn_cash_pay instead of psn_cash_pay")
    pdn = fields.pop("pdn_cash_pay")
    canonical = spec["blocks"]["SETLINFO"]["fields"]["psn_cash_pay"]
    _expect(all(pdn[k] == canonical[k] for k in ("type", "len", "required", "name_zh")), "pdn_cash_pay = psn_cash_pay")
    exp = fields.pop("exp_content", None)
    fields["psn_cash_pay"] = pdn
    if exp is not None:
        fields["exp_content"] = exp
    _note(spec, "2208", "setlinfo: the table spells pdn_cash_pay for psn_cash_pay (doc: 'without psn_cash_pay', extra "
                        "pdn_cash_pay, same type, length and name). The national baseline's psn_cash_pay is the spec; "
                        "writing pdn_cash_pay beside it, for clients that read the misspelling, is an allowed extra.")


def r_2302_list(spec):
    node = _node_at(spec, "2302 in data")
    _expect(node["kind"] == "list", "2302 data list")
    _note(spec, "2302", "input data is a list (the document: 多行); a single object is accepted as a one-row list.")


def r_dscg_time(spec):
    _field_at(spec, "2303 in data.dscgTime")
    for code in ("2303", "2304"):
        _note(spec, code, "input data.dscgTime: camelCase (doc), kept as spelled; an input should also accept dscg_time.")


def r_2305_hifdm(spec):
    f = _field_at(spec, "2305 out setlinfo.hifdm_pay")
    _expect(f["type"] == "C" and f["len"] == "16,2", "2305 hifdm_pay typed C, len 16,2")
    f["type"] = "N"
    _note(spec, "2305", "setlinfo.hifdm_pay: the document changes it to 'type C, len 16,2' (a money length on a string); "
                        "kept N like SETLINFO's and the national baseline's hifdm_pay, written as a JSON number.")


def r_3101(spec):
    for code in ("3101", "3102"):
        node = _node_at(spec, f"{code} out result")
        _expect(node["kind"] == "list", f"{code} result list")
        moved = []
        for where, names in (("fsi_encounter_dtos", ("adm_date", "dscg_date")), ("fsi_diagnose_dtos", ("dise_date",)),
                             ("fsi_order_dtos", ("drord_begn_date", "drord_stop_date"))):
            for name in names:
                f = _field_at(spec, f"{code} in {where}.{name}")
                _expect(f["type"] == "D" and "datetime format" in f["note"], f"{code} {name} D shown as datetime")
                f["type"] = "DT"
                moved.append(f"{where}.{name}")
        _note(spec, code, "result is typed 'list/obj' (the document says 单行 but expect a list): a list. " + ", ".join(moved)
                          + ": 日期型 shown in datetime format (doc): DT, as for 9001 sign_time.")
        _note(spec, code, "3101 and 3102 share every table (3102 omits dictionary names in notes): the same spec.")


def r_5301_header(spec):
    _expect(_remark_says(spec, "5301", "是否必填"), "5301 output header remark")
    _note(spec, "5301", "The output table's header reads 是否必填 (doc); its R column is read as 是否非空, as for every output.")


def r_2503_exp(spec):
    f = _field_at(spec, "2503 in data.exp_content")
    _expect(f["name_zh"] == "手术时间", "2503 exp_content labelled 手术时间")
    _note(spec, "2503", "input data.exp_content is labelled 手术时间 with a yy-MM-dd note (sic): kept as the document's row "
                        "(C 4000, optional), the node carries exp_content.")


def r_headers(spec):
    spec["gateway_headers"]["notes"].append(
        "The only gateway profile of this edition (§3): HmacSHA1 over the four headers sorted by key, joined with a "
        "single '&' (the example's '&&' is a slip, doc), Base64; 30-minute window. The TIF profile is national, not here.")


RESOLUTIONS: list[Callable[[dict[str, Any]], None]] = [
    r_opter_type, r_infcode, r_envelope_objects, r_sign_time, r_insuinfo, r_1312_root, r_1901_int, r_digits,
    r_drug_trac, r_2103_renames, r_2208_pdn, r_2302_list, r_dscg_time, r_2305_hifdm, r_3101, r_5301_header,
    r_2503_exp, r_headers,
]


# ----------------------------------------------------------------------------- output

def generate(text: str) -> str:
    return render(build(text)) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE, help="NHSA_FIELDS.md")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 when --out is stale")
    args = ap.parse_args(argv)
    text = generate(args.source.read_text(encoding="utf-8"))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run infra/nhsa/make_fields.py {args.source}", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    spec = json.loads(text)
    print(f"{args.out}: {len(spec['transactions'])} transactions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
