"""Key files in iCloud Drive, through pyicloud's own ``DriveService``.

Every step that changes iCloud Drive looks before it acts, so a retry after an answer lost in
transit finds the work already done instead of doing it twice (a second folder, a conflict copy
of the key file, a delete with a stale etag).
"""

from __future__ import annotations

import hmac
import io
import logging
from collections.abc import Callable
from typing import Any

from walletbackup.errors import BackupNotFound, StorageError, UnlockFailed
from walletbackup.methods import SECRET_SIZE
from walletbackup.retry import Transient

from .keyfile import FOLDER_NAME, README_NAME, README_TEXT, KeyFileRef
from .redact import redact_urllib3_log
from .remote import Remote

log = logging.getLogger(__name__)
Item = dict[str, Any]


class _NamedBytes(io.BytesIO):
    """In-memory upload: pyicloud takes the file name from ``.name``; nothing touches disk."""

    def __init__(self, name: str, data: bytes) -> None:
        super().__init__(data)
        self.name = name


class KeyDrive:
    """The walletbackup folder of one iCloud Drive and the key files in it."""

    def __init__(self, drive: Any, remote: Remote, account: str) -> None:
        from pyicloud.services import drive as pyicloud_drive  # type: ignore[import-untyped]  # noqa: PLC0415

        redact_urllib3_log()
        self._drive = drive
        self._remote = remote
        self._account = account
        self._zone: str = pyicloud_drive.CLOUD_DOCS_ZONE
        self._root_id: str = pyicloud_drive.CLOUD_DOCS_ZONE_ID_ROOT
        self._trash_id: str = pyicloud_drive.CLOUD_DOCS_ZONE_ID_TRASH

    # --- the three jobs -----------------------------------------------------------------

    def create(self, name: str, secret: bytes) -> KeyFileRef:
        """Upload a new key file (never over an existing one), read it back, return its ref."""
        folder = self._remote.call("find the walletbackup folder in iCloud Drive", self._folder)
        present = {
            _full_name(item)
            for item in self._remote.call(
                "list the walletbackup folder in iCloud Drive",
                lambda: self._children(folder["drivewsid"]),
            )
        }
        if name in present:
            raise StorageError(
                f"a file named {name!r} is already in the iCloud Drive folder {FOLDER_NAME!r}; "
                "refusing to overwrite it"
            )
        if README_NAME not in present:
            self._remote.call(
                "write the README to iCloud Drive",
                lambda: self._upload_once(folder, README_NAME, README_TEXT.encode()),
            )
        try:
            self._remote.call(
                "upload the key file to iCloud Drive",
                lambda: self._upload_once(folder, name, secret),
            )
            item = self._remote.call(
                "read the key file back from iCloud Drive", lambda: self._uploaded(folder, name)
            )
            data = self._remote.call(
                "read the key file back from iCloud Drive", lambda: self._download(item)
            )
            if not hmac.compare_digest(data, secret):
                raise StorageError(
                    "the key file read back from iCloud Drive differs from what was uploaded; "
                    "nothing was enrolled"
                )
        except Exception:
            self._clean_up(folder["drivewsid"], name)
            raise
        return KeyFileRef(FOLDER_NAME, folder["drivewsid"], name, item["drivewsid"])

    def read(self, ref: KeyFileRef) -> bytes:
        """The key in the file ``ref`` names; BackupNotFound / UnlockFailed saying what happened."""
        item = self._locate(ref)
        if _int(item.get("size")) == SECRET_SIZE:
            data = self._remote.call(
                "download the key file from iCloud Drive", lambda: self._download(item)
            )
            if len(data) == SECRET_SIZE:
                return data
        raise UnlockFailed(
            f"the iCloud Drive key file {ref.file!r} was altered (it no longer holds a "
            f"{SECRET_SIZE}-byte key), so the key it held is gone; recover with another method"
        )

    def exists(self, ref: KeyFileRef) -> bool:
        """Whether the key file is still in its folder (one folder listing; Recently Deleted
        does not count). Matches by item id, as :meth:`delete` does."""
        listing = self._remote.call(
            "look for the key file in iCloud Drive",
            lambda: self._drive.get_node_data(ref.folder_id),
        )
        return any(item.get("drivewsid") == ref.file_id for item in _items(listing) or [])

    def delete(self, ref: KeyFileRef) -> None:
        """Delete the key file and purge it from Recently Deleted; a file already gone is fine.

        Matches by item id only: a different file put under the same name is not ours to delete.
        """
        self._delete(ref.folder_id, lambda item: item.get("drivewsid") == ref.file_id, self._remote)

    # --- steps ----------------------------------------------------------------------------

    def _folder(self) -> Item:
        found = self._find_folder()
        if found is None:
            self._drive.create_folders(self._root_id, FOLDER_NAME)
            found = self._find_folder()
        if found is None:
            raise Transient("the new walletbackup folder is not listed yet")
        return found

    def _find_folder(self) -> Item | None:
        for item in self._children(self._root_id):
            if item.get("type") == "FOLDER" and item.get("name") == FOLDER_NAME:
                return item
        return None

    def _children(self, folder_id: str) -> list[Item]:
        """One listing, no retries of its own: callers run inside :meth:`Remote.call`."""
        return _items(self._drive.get_node_data(folder_id)) or []

    def _upload_once(self, folder: Item, name: str, data: bytes) -> None:
        if any(_full_name(item) == name for item in self._children(folder["drivewsid"])):
            return  # an earlier attempt got through; its answer was lost on the way back
        try:
            with _NamedBytes(name, data) as upload:
                self._drive.send_file(folder["docwsid"], upload, zone=self._zone)
        finally:
            # pyicloud adds the upload token (from a session cookie) to the params that every
            # later request of this session puts in its URL, content hosts included.
            self._drive.params.pop("token", None)

    def _uploaded(self, folder: Item, name: str) -> Item:
        found = [
            item
            for item in self._children(folder["drivewsid"])
            if _full_name(item) == name and item.get("type") == "FILE"
        ]
        if not found:
            raise Transient("the uploaded key file is not listed yet")
        if len(found) > 1:
            raise StorageError(f"iCloud Drive lists {len(found)} files named {name!r}")
        return found[0]

    def _download(self, item: Item) -> bytes:
        """At most one byte more than a key: a file grown huge is refused, not fetched."""
        zone = item.get("zone") or self._zone
        response = self._drive.get_file(item["docwsid"], zone=zone, stream=True)
        data = bytearray()
        with response:
            for chunk in response.iter_content(chunk_size=SECRET_SIZE + 1):
                data += chunk
                if len(data) > SECRET_SIZE:
                    break
        return bytes(data)

    def _locate(self, ref: KeyFileRef) -> Item:
        listing = self._remote.call(
            "look for the key file in iCloud Drive",
            lambda: self._drive.get_node_data(ref.folder_id),
        )
        children = _items(listing)  # None: the folder is gone
        for item in children or []:
            if item.get("drivewsid") == ref.file_id:
                return item
        where = f"the iCloud Drive of {self._account}"
        if any(item.get("drivewsid") in (ref.file_id, ref.folder_id) for item in self._trash()):
            raise BackupNotFound(
                f"the key file {ref.file!r} is in Recently Deleted in {where}: restore it "
                "(iCloud Drive > Recently Deleted, on icloud.com or a device) and try again, "
                "or recover with another method"
            )
        if children is None:
            raise BackupNotFound(
                f"the folder {ref.folder!r} holding the key file is gone from {where} (or this "
                "is not the Apple ID the backup was made with); recover with another method"
            )
        if any(_full_name(item) == ref.file for item in children):
            raise BackupNotFound(
                f"the key file {ref.file!r} in {where} was replaced by a different file with "
                "the same name, so the key it held is gone; recover with another method"
            )
        raise BackupNotFound(
            f"the key file {ref.file!r} is missing from the folder {ref.folder!r} in {where} "
            "(deleted, or this is not the Apple ID the backup was made with); recover with "
            "another method"
        )

    def _trash(self) -> list[Item]:
        return self._remote.call(
            "look in iCloud Drive's Recently Deleted", lambda: self._children(self._trash_id)
        )

    def _delete(self, folder_id: str, ours: Callable[[Item], bool], remote: Remote) -> None:
        def from_folder() -> None:
            for item in self._children(folder_id):
                if ours(item):
                    _check_deleted(self._drive.delete_items(item["drivewsid"], item["etag"]))

        def from_trash() -> None:
            for item in self._children(self._trash_id):
                if ours(item):
                    _check_deleted(
                        self._drive.delete_forever_from_trash(item["drivewsid"], item["etag"])
                    )

        remote.call("delete the key file from iCloud Drive", from_folder)
        remote.call("purge the key file from iCloud Drive's Recently Deleted", from_trash)

    def _clean_up(self, folder_id: str, name: str) -> None:
        """After a failed enrollment: one try at removing the unused key file, never raising."""
        try:
            self._delete(
                folder_id,
                lambda item: _full_name(item) == name,
                self._remote.single_try(),
            )
        except Exception as exc:  # the enrollment's own error is the one to report
            log.warning(
                "could not remove the unused iCloud key file %s: %s", name, type(exc).__name__
            )


def _items(listing: object) -> list[Item] | None:
    """A folder listing's children; None when the listing has none (the folder is gone)."""
    items = listing.get("items") if isinstance(listing, dict) else None
    if not isinstance(items, list):
        return None
    return [item for item in items if isinstance(item, dict)]


def _full_name(item: Item) -> str:
    """iCloud keeps the extension apart from the name; people see them joined."""
    name, extension = item.get("name"), item.get("extension")
    if not isinstance(name, str):
        return ""
    return f"{name}.{extension}" if isinstance(extension, str) and extension else name


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _check_deleted(answer: object) -> None:
    items = answer.get("items") if isinstance(answer, dict) else None
    for item in items if isinstance(items, list) else []:
        status = item.get("status") if isinstance(item, dict) else None
        if status not in (None, "OK"):
            raise StorageError(f"iCloud Drive did not delete the key file (status {status!r})")


__all__ = ["KeyDrive"]
