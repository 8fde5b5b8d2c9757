"""Documents in the stock JupyterLab UI (headless Chromium): renames, files that cannot be opened."""

from __future__ import annotations

import asyncio
import time

import pytest

from .lab import JupyterLabServer, LabError, wait_until
from .test_lab_collaboration import saved_state, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


async def test_rename_then_save_succeeds(lab_server: JupyterLabServer, new_user) -> None:
    write_notebook(lab_server.root / "before.ipynb")
    alice = await new_user("alice")
    await alice.open_notebook("before.ipynb", min_cells=3)
    await alice.type_in_cell(0, "\nx = 'typed before the rename'")
    await alice.type_in_cell(1, "\ny = 'typed after it'")
    status, body = await lab_server.request("PATCH", "/api/contents/before.ipynb", {"path": "after.ipynb"})
    assert status == 200, (status, body)
    await alice.save()  # at once; raises on the status bar's "Saving failed"

    def on_disk():
        try:
            sources = saved_state(lab_server.root / "after.ipynb")["sources"]
        except (OSError, ValueError, KeyError):
            return None
        return sources if "typed after it" in sources[1] and "typed before the rename" in sources[0] else None

    await wait_until(on_disk, 10, "after.ipynb to hold both edits")
    assert not (lab_server.root / "before.ipynb").exists()


async def test_a_file_that_cannot_be_opened_shows_the_file_load_error_dialog(
    lab_server: JupyterLabServer, new_user
) -> None:
    (lab_server.root / "broken.ipynb").write_text('{"cells": "not a notebook"')
    alice = await new_user("alice")
    await alice.page.goto(lab_server.lab_url("broken.ipynb", workspace=alice.workspace), wait_until="domcontentloaded")
    deadline = time.monotonic() + 30
    while True:
        dialogs = await alice._open_dialogs()
        shown = [d for d in dialogs if d["title"].startswith("File Load Error")]
        if shown:
            break
        if time.monotonic() > deadline:
            raise LabError(f"no File Load Error dialog (dialogs: {dialogs})")
        await asyncio.sleep(0.2)
    assert shown[0]["title"] == "File Load Error for broken.ipynb", shown
    assert "Bad request" in shown[0]["body"], shown  # the frontend's words for 4400
    await alice.screenshot("file-load-error")
    log = lab_server.log_path.read_text()
    assert log.count("Traceback") == 0, log[-3000:]


async def test_a_late_joiner_sees_who_is_there_at_once(lab_server: JupyterLabServer, new_user) -> None:
    """Bob's collaborators panel is open when his page loads (restored from his workspace): it lists Alice
    within 2 s, although Alice does nothing and her presence does not change."""
    write_notebook(lab_server.root / "shared.ipynb")
    alice = await new_user("alice")
    await alice.open_notebook("shared.ipynb", min_cells=3)
    me_a = await alice.identity()
    bob = await new_user("bob")
    await bob.open_notebook("shared.ipynb", min_cells=3)
    await bob.wait_for_collaborator(me_a["display_name"], timeout=30)  # opens the panel (kept in the layout)
    await asyncio.sleep(1.5)  # let the workspace keep the layout with the panel open
    await bob.page.reload(wait_until="domcontentloaded")
    await bob.page.locator(".jp-CollaboratorsPanel").first.wait_for(state="attached", timeout=30_000)
    started = time.monotonic()
    await bob.wait_for_collaborator(me_a["display_name"], timeout=10)
    assert time.monotonic() - started < 2.5, time.monotonic() - started


async def test_clicking_a_collaborator_opens_their_current_document(lab_server: JupyterLabServer, new_user) -> None:
    write_notebook(lab_server.root / "hers.ipynb")
    alice = await new_user("alice")
    bob = await new_user("bob")
    # Bob's Collaboration panel is open before Alice arrives: the stock panel lists the collaborators
    # of the awareness changes it sees once shown (JupyterLab 4.6 mounts it when first shown), and
    # Alice's presence changes when she opens her notebook.
    await bob.page.goto(lab_server.lab_url(workspace=bob.workspace), wait_until="domcontentloaded")
    await bob.page.locator(".jp-SideBar").first.wait_for(timeout=30_000)
    await bob.page.locator(
        ".jp-SideBar .lm-TabBar-tab[title*='Collaborat'], .jp-SideBar .lm-TabBar-tab[data-id*='collaboration']"
    ).first.click()
    await alice.open_notebook("hers.ipynb", min_cells=3)
    me_a = await alice.identity()
    await bob.wait_for_collaborator(me_a["display_name"], timeout=15)
    panel = bob.page.locator(".jp-CollaboratorsList")
    header = panel.locator(".jp-CollaboratorHeader", has_text=me_a["display_name"]).first
    document = panel.get_by_text("hers.ipynb", exact=True).first
    if not await document.is_visible():
        await header.click()  # her entry unfolds into the documents she has open
    await document.click()
    bob.path = "hers.ipynb"
    await bob.wait_notebook_ready(min_cells=3)  # her current document is open in Bob's JupyterLab
