"""JupyterLab under a real JupyterHub (headless Chromium): presence shows the hub's users, by name and colour.

alice opens a notebook in her server; bob, whom she shared it with (JupyterHub's sharing, with
write), opens the same notebook there after authorizing the server once, as the hub asks. Each sees
the other in the collaborators panel and their cursor flag under their hub name, in the colour the
hub gave them at login (``supernode.hub_identity.presence_identity``), never as "Anonymous"; and
bob's share lets him edit and run cells in alice's server. carol's share is read-only: she sees
alice's notebook and alice sees her there, but what she types never reaches alice.
"""

from __future__ import annotations

import pytest

from hub_helpers import UserServer, authorize_if_asked, hub_login, running_hub
from supernode.hub_identity import color_for

from .lab import LabPage
from .test_lab_collaboration import write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with running_hub(tmp_path_factory.mktemp("hub-lab"), "alice", {"bob": True, "carol": False}) as (server, _):
        yield server


async def _owner_and_guest(hub, chromium, artifacts_dir, guest: str) -> tuple[UserServer, LabPage, LabPage]:
    """alice's server, and pages of alice and of ``guest`` logged in to the hub, the guest let into it."""
    alice_server = UserServer(hub, "alice")
    alice = await LabPage.create(chromium, alice_server, "alice", artifacts_dir, timeout=45)
    other = await LabPage.create(chromium, alice_server, guest, artifacts_dir, timeout=45)
    await hub_login(alice.page, hub, "alice")
    await hub_login(other.page, hub, guest)
    await other.page.goto(alice_server.lab_url(workspace=other.workspace), wait_until="domcontentloaded")
    await authorize_if_asked(other.page)  # a server shared with them: the hub asks them once
    return alice_server, alice, other


async def test_collaborators_are_the_hub_users(hub, chromium, artifacts_dir) -> None:
    write_notebook(hub.base_dir / "users" / "alice" / "together.ipynb")
    _, alice, bob = await _owner_and_guest(hub, chromium, artifacts_dir, "bob")
    try:
        await alice.open_notebook("together.ipynb", min_cells=3)
        await bob.open_notebook("together.ipynb", min_cells=3)
        assert (await alice.identity())["name"] == "alice"
        me_b = await bob.identity()
        assert (me_b["username"], me_b["display_name"], me_b["color"]) == ("bob", "bob", color_for("bob"))

        await alice.place_cursor(0)
        await bob.place_cursor(1)
        await bob.wait_for_remote_cursor(name="alice", color=color_for("alice"), cell=0)
        await alice.wait_for_remote_cursor(name="bob", color=color_for("bob"), cell=1)
        names_b = await bob.wait_for_collaborator("alice")
        names_a = await alice.wait_for_collaborator("bob")
        assert not [n for n in names_a + names_b if "Anonymous" in n], (names_a, names_b)

        # bob's share lets him write (read from the hub's shares: his browser's token has no write scope)
        await bob.type_in_cell(1, "\nprint('bob ran this')")
        await alice.wait_for_cell_source(1, contains="bob ran this")
        await bob.run_cell(1)
        await alice.wait_for_output(1, "bob ran this")
        await bob.screenshot("hub-collaborators")
    except BaseException:
        for page in (alice, bob):
            await page.screenshot("failure")
        raise
    finally:
        await alice.close()
        await bob.close()


async def test_a_read_only_share_shows_but_does_not_change(hub, chromium, artifacts_dir) -> None:
    write_notebook(hub.base_dir / "users" / "alice" / "watched.ipynb")
    alice_server, alice, carol = await _owner_and_guest(hub, chromium, artifacts_dir, "carol")
    try:
        await alice.open_notebook("watched.ipynb", min_cells=3)
        carol.path = "watched.ipynb"
        await carol.page.goto(alice_server.lab_url("watched.ipynb", workspace=carol.workspace))
        await carol.wait_notebook_ready(min_cells=3, kernel=False)
        await alice.wait_for_collaborator("carol")  # her presence shows
        await carol.wait_for_collaborator("alice")

        # her typing stays in her page: the relay drops it, and forwards her cursor (sent after it, on the
        # same socket) to alice, who then still has the cell as it was
        await carol.type_in_cell(2, "carol was here")
        await alice.wait_for_remote_cursor(name="carol", color=color_for("carol"), cell=2)
        assert "carol was here" not in await alice.cell_source(2)
        await carol.screenshot("read-only")
    except BaseException:
        for page in (alice, carol):
            await page.screenshot("failure")
        raise
    finally:
        await alice.close()
        await carol.close()
