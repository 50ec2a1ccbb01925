"""NHSA_CODES.md -> gateway/his/spec/nhsa_codes.json: every code dictionary (代码表) of the published
edition, as the document gives it: dictionary type -> [{value, label}, ...] in the document's order.

    .venv/bin/python infra/nhsa/make_codes.py [NHSA_CODES.md] [--out FILE] [--check]

The source defaults to ../shared/NHSA_CODES.md beside the repository. --check writes nothing and
exits 1 when the committed JSON differs from what this source produces. The output is a pure
function of the document's text: the same text gives the same bytes. The gateway reads only the
JSON (1901 字典表查询, code checks of 1312's filters); nothing reads the document at run time.

How the document is read (and nothing else is assumed; any other line stops the generator):

* `## N. Title` opens section N (1 core, 2 other referenced, 3 exp_content keys, 4 not in the
  document).
* `**type** 名称 (count)` or `**type** 名称 (count) — note`, ending in `:`, opens a table; the next
  line holds its entries, `` `value` label · `value` label · … ``, and must hold `count` of them.
  A type whose table appears twice (clr_type) gets one list, the second table's entries after the
  first's, each entry then carrying `table` (1 or 2).
* Any other line of sections 1-3 is prose; a prose line right before a table is kept as that
  table's `intro`.
* Section 4's `- **type** … (where): text` bullets are the dictionaries fields name but the
  document has no table for; they are listed under `not_in_document`.

Where the document is odd, each reading chosen is one entry of RESOLUTIONS below, which checks
that the document still says what it resolved (the generator stops when it does not) and records
its reason under "notes".
"""

from __future__ import annotations

import argparse
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
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "NHSA_CODES.md"
DEFAULT_OUT = REPO_ROOT / "gateway" / "his" / "spec" / "nhsa_codes.json"

LEGEND = {
    "dictionaries": "type -> entries in the document's order; an entry is {value, label} as the document writes "
                    "them (codes are strings: keep leading zeros), plus `parent` where RESOLUTIONS derive one "
                    "and `table` (1, 2) for a type whose table appears twice",
    "about": "per type: name_zh, section (1 core, 2 other referenced, 3 exp_content keys) and its tables "
             "(declared count, the heading's note, the prose line before it as intro)",
    "not_in_document": "dictionaries that fields reference but the document has no table for (section 4)",
    "remarks": "the prose lines of each section, as written",
}

TITLE = re.compile(r"^# (.+)$")
SECTION = re.compile(r"^## (\d+)\. (.+)$")
TABLE = re.compile(r"^\*\*(\w+)\*\* (\S+) \((\d+)\)(?: — (.*?))?:\s*$")
ENTRY = re.compile(r"`([^`]+)` ([^`]+?)(?= · `|$)")
MISSING = re.compile(r"^- \*\*(\w+)\*\*([^:]*): (.+)$")


class CodesError(ValueError):
    """The document does not read the way this generator understands it (line number in the text)."""


# ----------------------------------------------------------------------------- reading

@dataclass
class RawTable:
    type: str
    name_zh: str
    count: int
    note: str
    intro: str
    section: int
    line: int
    entries: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RawDoc:
    title: str
    preamble: list[str]
    sections: dict[int, str]
    tables: list[RawTable]
    missing: dict[str, dict[str, str]]
    prose: dict[int, list[str]]


def _entries(text: str, lineno: int) -> list[dict[str, Any]]:
    found = [{"value": m.group(1), "label": m.group(2).strip()} for m in ENTRY.finditer(text)]
    again = " · ".join(f"`{e['value']}` {e['label']}" for e in found)
    if not found or again != text:
        raise CodesError(f"line {lineno}: cannot read the entries of this line: {text[:80]!r}")
    return found


def parse(text: str) -> RawDoc:
    lines = text.splitlines()
    title = ""
    preamble: list[str] = []
    sections: dict[int, str] = {}
    tables: list[RawTable] = []
    missing: dict[str, dict[str, str]] = {}
    prose: dict[int, list[str]] = {}
    section = 0
    pending_intro = ""
    i = 0
    while i < len(lines):
        lineno, line = i + 1, lines[i].rstrip()
        i += 1
        if not line:
            continue
        if m := TITLE.match(line):
            if title:
                raise CodesError(f"line {lineno}: a second title")
            title = m.group(1)
            continue
        if m := SECTION.match(line):
            section = int(m.group(1))
            sections[section] = m.group(2)
            pending_intro = ""
            continue
        if section == 0:
            preamble.append(line)
            continue
        if section == 4:
            if m := MISSING.match(line):
                name = m.group(1)
                if name in missing:
                    raise CodesError(f"line {lineno}: {name} listed twice")
                missing[name] = {"heading": m.group(2).strip(), "text": m.group(3).strip()}
            elif line.startswith(("`", "**", "- **")):
                raise CodesError(f"line {lineno}: neither a '- **type** …: text' bullet nor prose: {line[:80]!r}")
            else:
                prose.setdefault(section, []).append(line)
            continue
        if m := TABLE.match(line):
            if i >= len(lines) or not lines[i].startswith("`"):
                raise CodesError(f"line {lineno}: the table {m.group(1)} has no entries line after it")
            entries = _entries(lines[i].rstrip(), i + 1)
            i += 1
            table = RawTable(type=m.group(1), name_zh=m.group(2), count=int(m.group(3)), note=m.group(4) or "",
                             intro=pending_intro, section=section, line=lineno, entries=entries)
            if len(entries) != table.count:
                raise CodesError(f"line {lineno}: {table.type} declares {table.count} codes, its line holds "
                                 f"{len(entries)}")
            tables.append(table)
            pending_intro = ""
            continue
        if line.startswith(("`", "**", "- ")):
            raise CodesError(f"line {lineno}: neither a table heading nor prose: {line[:80]!r}")
        prose.setdefault(section, []).append(line)
        pending_intro = line
    if not title or not tables:
        raise CodesError("no title or no tables: is this NHSA_CODES.md?")
    return RawDoc(title=title, preamble=preamble, sections=sections, tables=tables, missing=missing, prose=prose)


# ----------------------------------------------------------------------------- building

def build(text: str, *, resolutions: bool = True) -> dict[str, Any]:
    """The JSON of the document. resolutions=False leaves out RESOLUTIONS (which check the published
    document's wording): the document's reading alone, for the generator's own tests."""
    doc = parse(text)
    dictionaries: dict[str, list[dict[str, Any]]] = {}
    about: dict[str, dict[str, Any]] = {}
    for t in doc.tables:
        if t.type in about:
            a = about[t.type]
            if a["name_zh"] != t.name_zh or a["section"] != t.section:
                raise CodesError(f"line {t.line}: {t.type} appears again with another name or in another section")
            if len(a["tables"]) == 1:
                for e in dictionaries[t.type]:
                    e["table"] = 1
            a["tables"].append({"count": t.count, "note": t.note, "intro": t.intro})
            n = len(a["tables"])
            dictionaries[t.type] += [{**e, "table": n} for e in t.entries]
        else:
            about[t.type] = {"name_zh": t.name_zh, "section": t.section,
                             "tables": [{"count": t.count, "note": t.note, "intro": t.intro}]}
            dictionaries[t.type] = [dict(e) for e in t.entries]
    overlap = sorted(set(dictionaries) & set(doc.missing))
    if overlap:
        raise CodesError(f"section 4 lists dictionaries that have a table: {overlap}")
    spec: dict[str, Any] = {
        "source": {"title": doc.title, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
                   "generator": "infra/nhsa/make_codes.py"},
        "legend": LEGEND,
        "sections": {str(n): name for n, name in sorted(doc.sections.items())},
        "dictionaries": dictionaries,
        "about": about,
        "not_in_document": doc.missing,
        "remarks": {str(n): lines for n, lines in sorted(doc.prose.items())},
        "notes": [],
    }
    for resolution in RESOLUTIONS if resolutions else ():
        resolution(spec)
    return spec


# ----------------------------------------------------------------------------- resolutions

def _expect(cond: bool, what: str) -> None:
    if not cond:
        raise CodesError(f"resolution no longer applies, the document changed: {what}")


def _entries_of(spec: dict[str, Any], name: str) -> list[dict[str, Any]]:
    _expect(name in spec["dictionaries"], f"the dictionary {name} is in the document")
    return spec["dictionaries"][name]


def r_spaced_codes(spec):
    """dept `A32.01 X` 线诊断专业: the table's layout split 'X线诊断专业' at the wrong place."""
    spaced = {(name, e["value"]) for name, es in spec["dictionaries"].items() for e in es if " " in e["value"]}
    _expect(spaced == {("dept", "A32.01 X"), ("dept", "A32.02 CT")}, "the only codes holding a space are dept "
            "'A32.01 X' and 'A32.02 CT'")
    for e in _entries_of(spec, "dept"):
        if " " in e["value"]:
            code, head = e["value"].split(" ", 1)
            e["value"], e["label"] = code, head + e["label"]
    spec["notes"].append("dept: the document writes `A32.01 X` 线诊断专业 and `A32.02 CT` 诊断专业 (the code cell took "
                         "the first letters of the label); read as A32.01 X线诊断专业 and A32.02 CT诊断专业.")


def r_clr_type_twice(spec):
    tables = spec["about"]["clr_type"]["tables"]
    _expect(len(tables) == 2 and "cross-region pharmacy" in tables[1]["note"], "clr_type has a second table, the "
            "cross-region pharmacy purchase one")
    spec["notes"].append("clr_type: the document gives two tables (57 settlement codes, then 12 codes of cross-region "
                         "pharmacy purchase, 2161-2176); one list holds both, in that order, each entry with its table.")


def r_duplicates(spec):
    dups: dict[str, list[str]] = {}
    for name, es in spec["dictionaries"].items():
        seen: set[str] = set()
        for e in es:
            if e["value"] in seen:
                dups.setdefault(name, []).append(e["value"])
            seen.add(e["value"])
    _expect(dups == {"clr_type": ["310412"], "mat_idet_code": ["236021"]},
            "the only repeated codes are clr_type 310412 and mat_idet_code 236021")
    spec["notes"].append("Repeated codes are kept as the document gives them: clr_type 310412 (职工跨省药店购药, then "
                         "居民跨省药店购药, probably 390412; doc) and mat_idet_code 236021 (精神病患者, then "
                         "重点优抚对象(2021); doc). A lookup of such a code finds its first entry.")


def r_parents(spec):
    """dept is a hierarchy by its dotted codes: A04 外科 > A04.01 普通外科专业 > A04.01.01 肝脏移植项目."""
    es = _entries_of(spec, "dept")
    codes = {e["value"] for e in es}
    for e in es:
        v = e["value"]
        if "." in v:
            parent = v.rsplit(".", 1)[0]
            _expect(parent in codes, f"dept {v} has its parent {parent} in the table")
            e["parent"] = parent
    spec["notes"].append("dept is a hierarchy by its dotted codes (A04 外科 > A04.01 普通外科专业 > A04.01.01 肝脏移植项目): "
                         "a dotted code's parent is the code before its last dot (1901 parentValue). No other "
                         "dictionary is read as a hierarchy: the document does not say so (psn_type 1105 under 11? "
                         "medins_type A221 under A220 or A2?), so their entries have no parent.")


def r_quirks_kept(spec):
    naty = _entries_of(spec, "naty")
    _expect(naty[0]["value"] == "1" and "accept both" in spec["about"]["naty"]["tables"][0]["note"],
            "naty codes are written without a leading zero")
    _expect([e["value"] for e in _entries_of(spec, "opter_type")] == ["1"], "the opter_type table lists only 1")
    spec["notes"].append("Kept as written: naty codes without a leading zero (1..56; GB 3304 writes 01..56), the "
                         "opter_type table with 1 only (the envelope defines 1, 2, 3). The headings' remarks stay "
                         "under about.<type>.tables[].note.")


RESOLUTIONS: list[Callable[[dict[str, Any]], None]] = [
    r_spaced_codes, r_clr_type_twice, r_duplicates, r_parents, r_quirks_kept,
]


# ----------------------------------------------------------------------------- output

def generate(text: str) -> str:
    return render(build(text)) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE, help="NHSA_CODES.md")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 when --out is stale")
    args = ap.parse_args(argv)
    text = generate(args.source.read_text(encoding="utf-8"))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run infra/nhsa/make_codes.py {args.source}", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    spec = json.loads(text)
    print(f"{args.out}: {len(spec['dictionaries'])} dictionaries, "
          f"{sum(len(v) for v in spec['dictionaries'].values())} codes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
