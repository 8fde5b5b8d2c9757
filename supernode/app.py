"""The supernode as a jupyter_server extension.

It needs the ``rtc_relay`` extension (it registers its document policy on the
relay published in the tornado settings) and ``jupyter_server_fileid``.
"""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float

from .documents import DocumentManager
from .handlers import SessionHandler

__all__ = ["SupernodeExtension"]


class SupernodeExtension(ExtensionApp):
    """Owns the documents of collaboration rooms: load once, save, reload out-of-band edits."""

    name = "supernode"

    save_delay = Float(1.0, config=True, help="Seconds without changes after which a document is saved.")
    save_max_wait = Float(
        5.0,
        config=True,
        help="Longest time in seconds a change waits to be saved, however often the document keeps changing.",
    )
    file_poll_interval = Float(
        1.0, config=True, help="Seconds between checks of an open document's file for renames and edits on disk."
    )

    def initialize_settings(self) -> None:
        relay = self.settings.get("rtc_relay")
        self.documents: DocumentManager | None = None
        if relay is None:
            self.log.error("supernode: the rtc_relay extension is not enabled; documents are not served")
            return
        enabled = getattr(self.serverapp, "jpserver_extensions", {}) or {}
        if enabled.get("jupyter_server_ydoc"):
            self.log.error("supernode: jupyter_server_ydoc is enabled and serves documents; supernode stays off")
            return
        file_ids = self.settings.get("file_id_manager")
        if file_ids is None:
            self.log.error("supernode: jupyter_server_fileid is not enabled; documents are not served")
            return
        self.documents = DocumentManager(
            relay=relay,
            contents_manager=self.serverapp.contents_manager,
            file_ids=file_ids,
            save_delay=self.save_delay,
            save_max_wait=self.save_max_wait,
            file_poll_interval=self.file_poll_interval,
        )
        relay.add_policy(self.documents)
        self.settings["supernode_documents"] = self.documents

    def initialize_handlers(self) -> None:
        if getattr(self, "documents", None) is not None:
            self.handlers.append((r"/api/collaboration/session/(.*)", SessionHandler))

    async def get_document(self, **kwargs):
        """See :meth:`supernode.documents.DocumentManager.get_document`."""
        if self.documents is None:
            return None
        return await self.documents.get_document(**kwargs)

    async def stop_extension(self) -> None:
        if self.documents is not None:
            await self.documents.stop()
