"""The docs cannot drift from the code: docs/events.md documents every event,
room, envelope field and control event the code has, with its version;
docs/configuration.md every setting the code and env.example read, one line
each. The README stays short, and every relative link resolves."""

from __future__ import annotations

import re
from pathlib import Path

from domain.events import (
    ASESOR_ROOM,
    CONTROL_EVENTS,
    ENVELOPE,
    EVENTS_VERSION,
    GTR_ROOM,
    Event,
    envelope,
)

DOC = (Path(__file__).resolve().parent.parent / "docs" / "events.md").read_text()


def table_rows(heading: str) -> dict[str, str]:
    """The first table after `heading`: first column -> second column."""
    section = DOC.split(heading, 1)[1]
    rows = {}
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0].strip("`")] = cells[1]
        elif rows and not line.startswith("|"):
            break
    return rows


def test_the_version_is_the_codes():
    assert re.search(rf"contract version {re.escape(EVENTS_VERSION)}\b", DOC)


def test_every_envelope_field_is_documented_as_in_the_code():
    rows = table_rows("## Envelope")
    assert rows.pop("field") == "meaning"
    assert rows == ENVELOPE
    built = envelope(Event.CLIENT_DERIVED, cliente_id=1, estado="derivado", asesor_id=2, ts=1.0)
    assert list(built) == list(ENVELOPE)


def test_every_event_and_control_event_is_documented():
    events = table_rows("## Events (server → client)")
    assert set(events) - {"event"} == {e.value for e in Event}
    control = table_rows("Control events")
    assert {k: v for k, v in control.items() if k != "event"} == CONTROL_EVENTS


def test_every_room_is_documented():
    rooms = table_rows("## Rooms")
    assert {GTR_ROOM, ASESOR_ROOM, "asesor-{id}"} <= set(rooms)


# --- The README and docs/: short, linked, complete -------------------------

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, ROOT / "web" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: Written on other branches of issue 13 and merged with this one; remove once
#: both files are on main (then every link must resolve).

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # not inside code blocks
    return LINK.findall(text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(m) for m in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.M)}


def test_the_readme_is_read_in_one_sitting():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move detail to docs/"


def test_every_relative_link_points_to_an_existing_file_and_heading():
    broken = []
    for page in PAGES:
        for target in links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path, _, fragment = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
                continue
            if fragment and dest.suffix == ".md" and fragment not in anchors(dest):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_every_doc_is_one_hop_from_the_readme():
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in links(README)
              if not re.match(r"^[a-z][a-z0-9+.-]*:", t)}
    pages = set(PAGES[1:])
    missing = sorted(p.relative_to(ROOT).as_posix() for p in pages if p.resolve() not in linked)
    assert not missing, f"not linked from README.md: {missing}"


# --- docs/configuration.md documents every setting, one line each ----------

CONFIG = ROOT / "docs" / "configuration.md"
ENV_READ = re.compile(
    r"""(?:environ(?:\.get)?\(|environ\[|getenv\(|\benv(?:iron)?\.get\(|\benv\[|"""
    r"""_(?:int|float|rate)\(env,\s*|alias=)\s*["']([A-Z][A-Z0-9_]+)["']""")
#: Names read from a WSGI environ or the OS, not settings of ours.
NOT_SETTINGS = {"PATH", "HTTP_HOST", "HTTP_UPGRADE", "HOME", "HOSTNAME"}
SKIP_DIRS = {".venv", "node_modules", ".git", "dist"}


def config_rows() -> list[list[str]]:
    rows = []
    for line in CONFIG.read_text().splitlines():
        if line.startswith("| `"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def settings_in_code() -> set[str]:
    from core.settings import variables

    names = set(variables())  # every variable Settings reads, from its fields
    for path in ROOT.rglob("*.py"):
        if SKIP_DIRS & set(path.relative_to(ROOT).parts):
            continue
        names |= set(ENV_READ.findall(path.read_text()))
    example = (ROOT / "env.example").read_text()
    names |= set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.M))
    names |= {n for n in re.findall(r"\bRATE_LIMIT_[A-Z]+\b", example)}
    web = [ROOT / "web" / "vite.config.ts", *(ROOT / "web" / "src").rglob("*.ts*")]
    for path in web:
        if path.exists():
            names |= set(re.findall(r"\bVITE_[A-Z][A-Z0-9_]*\b", path.read_text()))
    return names - NOT_SETTINGS


def test_every_setting_has_exactly_one_line_of_its_own():
    rows = config_rows()
    assert rows
    names = []
    for cells in rows:
        assert len(cells) == 3, f"variable | default | meaning, got {cells}"
        assert re.fullmatch(r"`[A-Z][A-Z0-9_]+`", cells[0]), f"one variable per line: {cells[0]}"
        assert cells[2], f"{cells[0]} has no meaning"
        names.append(cells[0].strip("`"))
    twice = {n for n in names if names.count(n) > 1}
    assert not twice, f"documented twice: {twice}"


def test_every_setting_the_code_or_env_example_reads_is_documented():
    documented = {cells[0].strip("`") for cells in config_rows()}
    missing = settings_in_code() - documented
    assert not missing, f"add to docs/configuration.md: {sorted(missing)}"


def test_the_readme_settings_are_the_documented_ones():
    documented = {cells[0].strip("`") for cells in config_rows()}
    section = README.read_text().split("## Essential settings", 1)[1].split("\n## ", 1)[0]
    first_cells = [line.strip("|").split("|")[0] for line in section.splitlines()
                   if line.startswith("| `")]
    named = {n for cell in first_cells for n in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}
    assert named and named <= documented, named - documented


def test_the_jwt_secret_line_says_what_it_is():
    row = next(cells for cells in config_rows() if cells[0] == "`JWT_SECRET`")
    assert "32" in row[2] and "production" in row[2] and "key" in row[2], row


def test_the_performance_page_states_the_committed_full_run():
    """docs/performance.md's figures of the last full run are rendered from
    bench/results/scale.json (bench/report.py), never typed by hand."""
    import json

    from bench import report

    page = report.PAGE.read_text()
    assert page.count(report.BEGIN) == 1 and page.count(report.END) == 1
    block = page.split(report.BEGIN, 1)[1].split(report.END, 1)[0]
    expected = report.render(json.loads(report.RUN.read_text()))
    assert report.BEGIN + block + report.END == expected, "run: python -m bench.report"
