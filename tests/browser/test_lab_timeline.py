"""The stock timeline slider of jupyter-collaboration's frontend, in JupyterLab on our server (headless Chromium)."""

from __future__ import annotations

import pytest

from .lab import JupyterLabServer, wait_until
from .test_lab_collaboration import saved_state, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

ORIGINAL = "# A writes here"


async def test_the_timeline_slider_shows_earlier_versions_and_restores_one_for_everyone(
    lab_server: JupyterLabServer, new_user
) -> None:
    path = lab_server.root / "history.ipynb"
    write_notebook(path)
    alice = await new_user("alice")
    await alice.open_notebook("history.ipynb", min_cells=3)
    bob = await new_user("bob")
    await bob.open_notebook("history.ipynb", min_cells=3)
    await alice.type_in_cell(0, "\nfirst = 1")
    await alice.save()
    await alice.type_in_cell(0, "\nsecond = 2")
    await alice.save()
    now = ORIGINAL + "\nfirst = 1\nsecond = 2"
    await bob.wait_for_cell_source(0, equals=now)

    # The status-bar item the frontend shows for collaborative documents.
    icon = alice.page.locator("#jp-slider-status-bar [title='Document Timeline']")
    await icon.wait_for(state="visible", timeout=30_000)
    await icon.click()
    slider = alice.page.locator("#jp-slider-status-bar input.jp-Slider")
    await slider.wait_for(state="visible", timeout=15_000)
    assert int(await slider.get_attribute("max")) >= 2  # opened, and the two saves at least

    # Alice's notebook now shows the timeline's fork: moving the slider shows each version there.
    await slider.focus()
    await alice.page.keyboard.press("Home")
    await alice.wait_for_cell_source(0, equals=ORIGINAL)
    await alice.page.keyboard.press("End")
    await alice.wait_for_cell_source(0, equals=now)
    await alice.page.keyboard.press("Home")
    await alice.wait_for_cell_source(0, equals=ORIGINAL)
    assert await bob.cell_source(0) == now  # the document itself has not changed

    restore = alice.page.locator("#jp-slider-status-bar .jp-restoreBtn")
    await restore.click()
    # Restored as a normal change: the other user sees it, and the file holds it.
    await bob.wait_for_cell_source(0, equals=ORIGINAL, timeout=15)
    await wait_until(lambda: saved_state(path)["sources"][0] == ORIGINAL, 15, "the restored version on disk")
    assert await alice.cell_count() == 3 and await bob.cell_count() == 3

    # Alice is back in the document's room: her next edit reaches Bob and the file.
    await alice.wait_for_cell_source(0, equals=ORIGINAL)
    await alice.type_in_cell(1, "\nafter = 3")
    await bob.wait_for_cell_source(1, contains="after = 3", timeout=15)
    await alice.save()
    state = saved_state(path)
    assert state["sources"][0] == ORIGINAL and "after = 3" in state["sources"][1], state
    await alice.screenshot("timeline-restored")
