"""A classroom lesson in real JupyterLab pages (headless Chromium): one teacher and two students, each in a
browser context of their own, on one server, through the UI of the @jupyter-rtc/classroom extension.

The teacher shares two of three cells with the cell toolbar's toggle and starts a session from the notebook
toolbar; the students join by code (one by the link, one by typing it loosely) and see exactly the two shared
cells; the teacher edits and runs a shared cell, the students see it change (source, output, "changed"
mark, diff) and pull it (a new cell, then in place of it); a student who scrolled away from following stays
put while the teacher moves on, the other follows; the teacher's class list shows both students; ending
the session tells the students. Every step leaves a screenshot in the artifacts directory.

The extension under test is this checkout's build (``supernode/labextension``), put first on JUPYTER_PATH,
whatever the environment of the server has installed.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from .lab import JupyterLabServer, LabPage, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

SCENARIO_DEADLINE = 210  # seconds; below pytest-timeout so that teardown (screenshots, server stop) runs
ROOT = Path(__file__).resolve().parents[2]
VIEWPORT = (1280, 800)

CELL_IDS = ["intro", "scratch", "loop"]  # the teacher shares "intro" and "loop", keeps "scratch"
SHARED = ["intro", "loop"]
# tall cells (their first lines short: the cell toolbar sits beside them), so that the students' list scrolls
SOURCES = [
    "# intro\n" + "\n".join(f"a{i} = {i}" for i in range(22)),
    "# scratch: the teacher's own notes\nsecret = 42",
    "# loop\n" + "\n".join(f"b{i} = {i} * 2" for i in range(22)),
]
EDIT = "\nprint('edited by the teacher')"


@pytest.fixture(autouse=True)
def this_checkouts_extension(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """JupyterLab finds @jupyter-rtc/classroom in this checkout's build before any installed copy."""
    share = tmp_path / "share" / "jupyter"
    target = share / "labextensions" / "@jupyter-rtc" / "classroom"
    target.parent.mkdir(parents=True)
    target.symlink_to(ROOT / "supernode" / "labextension", target_is_directory=True)
    monkeypatch.setenv("JUPYTER_PATH", str(share))


class Timeline:
    def __init__(self) -> None:
        self.start = self.last = time.monotonic()

    def __call__(self, step: str) -> None:
        now = time.monotonic()
        print(f"[{now - self.start:5.1f}s +{now - self.last:4.1f}s] {step}")
        self.last = now


def write_notebook(path: Path, cells: list[tuple[str, str]]) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source, id=cell_id) for cell_id, source in cells]
    nbformat.validate(nb)
    path.write_text(nbformat.writes(nb))


async def wait_js(user: LabPage, js: str, arg: Any = None, what: str = "", timeout: float | None = None) -> Any:
    return await user._until(js, arg, timeout=timeout, what=f"[{user.name}] {what}")


# -- the student's panel, read from its DOM ----------------------------------------------------------

_JS_PANEL = """() => {
    const panel = document.getElementById('jp-rtc-classroom');
    const list = panel && panel.querySelector('[data-test="classroom-cells"]');
    if (!list) return null;
    const cells = Array.from(list.querySelectorAll('[data-test="shared-cell"]')).map(c => ({
        id: c.dataset.cellId,
        source: c.querySelector('[data-test="cell-source"]').textContent,
        outputs: c.querySelector('[data-test="cell-outputs"]').textContent,
        changed: !c.querySelector('[data-test="cell-changed"]').hidden,
        replace: !c.querySelector('[data-test="replace"]').hidden,
        diff: c.querySelector('[data-test="cell-diff"]').hidden ? null : c.querySelector('[data-test="cell-diff"] pre')?.textContent ?? '',
        teacher: c.classList.contains('jp-rtc-mod-teacher'),
        offset: c.offsetTop - list.scrollTop,  // the list is the cells' offset parent
    }));
    const banner = panel.querySelector('[data-test="follow-banner"]');
    const error = panel.querySelector('[data-test="student-error"]');
    return {
        cells, scrollTop: list.scrollTop, scrollable: list.scrollHeight > list.clientHeight,
        banner: banner.hidden ? null : banner.textContent, following: banner.dataset.state === 'following',
        error: error.hidden ? null : error.textContent,
    };
}"""


async def panel_state(user: LabPage) -> dict[str, Any] | None:
    return await user.page.evaluate(_JS_PANEL)


async def wait_panel(user: LabPage, predicate: str, what: str, timeout: float | None = None) -> dict[str, Any]:
    """Wait until ``predicate`` (a JS expression over ``s``, the panel's state) holds; returns the state."""
    js = f"() => {{ const s = ({_JS_PANEL})(); return s && ({predicate}) ? s : false; }}"
    return await wait_js(user, js, what=what, timeout=timeout)


def shared_cell(user: LabPage, cell_id: str) -> Any:
    return user.page.locator(f'#jp-rtc-classroom [data-test="shared-cell"][data-cell-id="{cell_id}"]')


# -- the scenario ----------------------------------------------------------------------------------


async def test_classroom_lesson(lab_server: JupyterLabServer, new_user, artifacts_dir: Path) -> None:
    write_notebook(lab_server.root / "lesson.ipynb", list(zip(CELL_IDS, SOURCES, strict=True)))
    for name in ("ada", "bob"):
        write_notebook(lab_server.root / f"{name}.ipynb", [(f"{name}-0", f"# {name}'s notebook")])
    await asyncio.wait_for(scenario(lab_server, new_user, Timeline()), SCENARIO_DEADLINE)


async def scenario(server: JupyterLabServer, new_user, step: Timeline) -> None:
    teacher = await new_user("teacher", viewport=VIEWPORT)
    ada = await new_user("ada", viewport=VIEWPORT)
    bob = await new_user("bob", viewport=VIEWPORT)
    await teacher.open_notebook("lesson.ipynb", min_cells=3)
    me = await teacher.identity()
    step("the teacher opened the lesson")

    # -- the teacher shares two of the three cells with the cell toolbar's toggle
    for index in (0, 2):
        await teacher.place_cursor(index)
        toggle = teacher.cell(index).locator('.jp-cell-toolbar [data-command="rtc-classroom:toggle-shared"]')
        await toggle.click()
        await wait_js(
            teacher,
            """([sel, index]) => {
                const cell = document.querySelectorAll(sel + ' .jp-Notebook .jp-Cell')[index];
                const button = cell.querySelector('[data-command="rtc-classroom:toggle-shared"]');
                return cell.classList.contains('jp-rtc-mod-shared') && button.getAttribute('aria-pressed') === 'true';
            }""",
            [teacher._PANEL, index],
            what=f"cell {index} to be marked shared",
        )
    marked = await teacher.page.locator(f"{teacher._PANEL} .jp-Cell.jp-rtc-mod-shared").count()
    assert marked == 2
    await teacher.screenshot("shared-cells")
    step("the teacher marked two cells shared")

    # -- ... opens the Class panel, chooses to share outputs, and starts the session from the notebook toolbar
    await teacher.page.locator('.jp-SideBar .lm-TabBar-tab[data-id="jp-rtc-classroom-teacher"]').click()
    await teacher.page.locator('#jp-rtc-classroom-teacher [data-test="share-outputs"]').check()
    await teacher.page.locator(f'{teacher._PANEL} .jp-Toolbar [data-command="rtc-classroom:share"]').click()
    code_box = teacher.page.locator('#jp-rtc-classroom-teacher [data-test="classroom-code"]')
    await code_box.wait_for(state="visible")
    grouped = (await code_box.text_content() or "").strip()
    code = grouped.replace("-", "")
    assert len(code) >= 6 and "-" in grouped, grouped
    link = await teacher.page.locator('#jp-rtc-classroom-teacher [data-test="classroom-link"]').input_value()
    assert link.endswith(f"/lab?classroom={code}"), link
    status, listing = await server.request("GET", "/api/rtc/classrooms")
    assert status == 200
    (session,) = listing["classrooms"]
    assert session["code"] == code and session["outputs"] is True
    assert session["shared"] == SHARED  # the toggles went through the shared document to the server
    await teacher.screenshot("session-started")
    step(f"the teacher started session {grouped}")

    # -- students join: ada by the link (the code filled in), bob by typing it loosely
    await ada.page.goto(server.lab_url("ada.ipynb", workspace=ada.workspace, classroom=code))
    ada.path = "ada.ipynb"
    await ada.wait_notebook_ready(min_cells=1)
    code_input = ada.page.locator('#jp-rtc-classroom [data-test="join-code"]')
    await code_input.wait_for(state="visible")
    assert (await code_input.input_value()).replace("-", "") == code
    await ada.page.locator('#jp-rtc-classroom [data-test="join-button"]').click()

    await bob.open_notebook("bob.ipynb", min_cells=1)
    await bob.page.locator('.jp-SideBar .lm-TabBar-tab[data-id="jp-rtc-classroom"]').click()
    await bob.page.locator('#jp-rtc-classroom [data-test="join-code"]').fill("nope-nope")
    await bob.page.locator('#jp-rtc-classroom [data-test="join-button"]').click()
    bad = await wait_panel(bob, "s.error && s.error.includes('code')", "a bad code to be refused")
    assert not bad["cells"]
    loose = f" {code[:4].lower()} - {code[4:].lower()} "
    await bob.page.locator('#jp-rtc-classroom [data-test="join-code"]').fill(loose)
    await bob.page.keyboard.press("Enter")

    for student in (ada, bob):
        state = await wait_panel(
            student,
            f"s.cells.length === 2 && s.cells[0].source === {json.dumps(SOURCES[0])} "
            f"&& s.cells[1].source === {json.dumps(SOURCES[2])}",
            "the two shared cells",
        )
        assert [c["id"] for c in state["cells"]] == SHARED  # exactly the shared ones; "scratch" never leaves
        assert not any(c["changed"] or c["replace"] for c in state["cells"])
        assert state["error"] is None
        await student.screenshot("joined")
    step("both students see exactly the two shared cells")

    # -- both pull the first shared cell (a new cell in their own notebook)
    for student in (ada, bob):
        await shared_cell(student, "intro").locator('[data-test="pull"]').click()
        await student.wait_for_cell_source(1, equals=SOURCES[0])
        await wait_panel(student, "s.cells[0].replace && s.cells[0].diff !== null", "'Replace mine' after the pull")
    assert await ada.cell_count() == 2
    step("both pulled 'intro'")

    # -- the teacher edits and runs it: the students see the change, its output, the mark and the diff
    await teacher.type_in_cell(0, EDIT)
    await teacher.run_cell(0)
    await teacher.wait_for_output(0, "edited by the teacher")
    for student in (ada, bob):
        state = await wait_panel(
            student,
            f"s.cells[0].source === {json.dumps(SOURCES[0] + EDIT)} && s.cells[0].changed "
            "&& s.cells[0].outputs.includes('edited by the teacher') && (s.cells[0].diff || '').includes('+print')"
            " && !s.cells[0].diff.includes('-a21')",
            "the teacher's edit, its output, the 'changed' mark and the diff",
        )
        assert not state["cells"][1]["changed"]
        await shared_cell(student, "intro").locator('[data-test="cell-diff"] summary').click()
        await student.screenshot("changed")
    assert await ada.cell_source(1) == SOURCES[0]  # nothing is written without the student's click
    step("the students saw the change marked")

    # -- ada replaces her pulled cell with the teacher's version (in place: still two cells)
    await shared_cell(ada, "intro").locator('[data-test="replace"]').click()
    await ada.wait_for_cell_source(1, equals=SOURCES[0] + EDIT)
    assert await ada.cell_count() == 2
    await wait_panel(ada, "!s.cells[0].changed", "the 'changed' mark to go after the replace")
    await ada.screenshot("replaced")
    step("ada replaced her cell")

    # -- a reload keeps ada in the classroom (the workspace remembers the session she joined)
    await ada.reload(min_cells=2)
    await wait_panel(ada, "s.cells.length === 2 && !s.cells[0].changed && s.following", "ada back after a reload")
    step("ada reloaded and is back in the classroom")

    # -- following: both follow the teacher; bob scrolls the list himself and breaks away
    for student in (ada, bob):
        await wait_panel(
            student,
            f"s.following && s.banner.includes({json.dumps(me['display_name'])}) && s.scrollable",
            "the 'Following <teacher>' banner",
        )
    list_box = bob.page.locator('#jp-rtc-classroom [data-test="classroom-cells"]')
    await list_box.hover()
    await bob.page.mouse.wheel(0, 150)
    state = await wait_panel(bob, "!s.following && s.banner.includes('Not following')", "bob to break away")
    bob_top = await settled_scroll(bob)
    assert bob_top > 0
    await bob.screenshot("not-following")

    # the teacher moves to the second shared cell and scrolls it to the top of the notebook
    await teacher.place_cursor(2)
    await teacher.cell(2).evaluate("cell => cell.scrollIntoView({block: 'start'})")
    state = await wait_panel(
        ada,
        "s.cells[1].teacher && Math.abs(s.cells[1].offset) <= 4 && s.following",
        "ada's list to follow the teacher to 'loop' (at its top, highlighted)",
    )
    await ada.screenshot("following")
    bob_state = await wait_panel(bob, "s.cells[1].teacher", "bob to see where the teacher is")
    assert abs(bob_state["scrollTop"] - bob_top) <= 2, (bob_state["scrollTop"], bob_top)  # bob stays put
    assert not bob_state["following"]
    step("ada followed the teacher; bob stayed where he scrolled")

    # -- the teacher's class list: both students, who follows, who has the latest of each cell
    ada_me, bob_me = await ada.identity(), await bob.identity()
    rows = await wait_js(
        teacher,
        """([ada, bob]) => {
            const rows = Array.from(document.querySelectorAll('#jp-rtc-classroom-teacher [data-test="classroom-student"]'))
                .map(r => ({
                    user: r.dataset.user,
                    joined: r.querySelector('[data-test="joined"]').textContent,
                    following: r.querySelector('[data-test="following"]').textContent,
                    intro: r.querySelector('[data-cell="intro"]')?.dataset.state,
                }));
            const a = rows.find(r => r.user === ada), b = rows.find(r => r.user === bob);
            return rows.length === 2 && a && b && a.joined === 'yes' && b.joined === 'yes' && a.following === 'yes'
                && b.following === 'no' && a.intro === 'up-to-date' && b.intro === 'outdated' ? rows : false;
        }""",
        [ada_me["username"], bob_me["username"]],
        what="the class list to show ada (following, up to date) and bob (not following, outdated)",
        timeout=30,
    )
    assert len(rows) == 2
    await teacher.screenshot("class-list")
    step("the teacher's class list shows both students")

    # bob follows again with one click
    await bob.page.locator('#jp-rtc-classroom [data-test="follow-button"]').click()
    await wait_panel(bob, "s.following && Math.abs(s.cells[1].offset) <= 4", "bob to follow again")
    step("bob follows again")
    # an edit of his own notebook breaks away too
    await bob.type_in_cell(0, "\nmine = 1")
    await wait_panel(bob, "!s.following && s.banner.includes('Not following')", "bob's edit to break away")
    step("bob's edit broke away from following")

    # -- the teacher ends the session: the students are told
    await teacher.page.locator('#jp-rtc-classroom-teacher [data-test="classroom-end"]').click()
    for student in (ada, bob):
        await wait_panel(student, "s.error && s.error.includes('ended')", "the students to be told the session ended")
    await ada.screenshot("ended")
    status, listing = await server.request("GET", "/api/rtc/classrooms")
    assert listing["classrooms"] == []
    step("the session ended")


async def settled_scroll(user: LabPage) -> float:
    """The student's list scroll position once it stopped moving (a wheel scroll may animate)."""
    last: list[float] = []

    async def settled() -> float | None:
        state = await panel_state(user)
        last.append(state["scrollTop"])
        return last[-1] if len(last) >= 3 and last[-1] == last[-2] == last[-3] else None

    return await wait_until(settled, 10, "the list to stop scrolling", interval=0.2)
