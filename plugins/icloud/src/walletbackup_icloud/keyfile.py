"""The key file's names and its stanza arguments (which iCloud Drive item holds the key).

iCloud Drive is visible to the user in Finder, the Files app and icloud.com, so the folder and
file names say what they are and not to delete them, and the folder holds a README.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from walletbackup.methods import JsonValue, MethodContext, check_arg_names, require

FOLDER_NAME = "walletbackup keys (do not delete)"
README_NAME = "README.txt"
README_TEXT = """\
walletbackup keys - please do not delete, rename or edit these files

Each file named walletbackup-key-...-DO-NOT-DELETE.bin in this folder is a random key that
protects a backup of a crypto wallet made with walletbackup (its "icloud" backup method).
The key alone opens nothing: the backup itself is kept elsewhere.

If one of these files is deleted or changed, that wallet can no longer be recovered with
iCloud (other recovery methods set up for it still work). A deleted file can be restored from
iCloud Drive's Recently Deleted for a while.

To stop using iCloud for a wallet, remove the method with walletbackup
(remove-method ... icloud): it deletes its key file itself.
"""

ARGS_VERSION = 1
_ZONE = "com.apple.CloudDocs"
_ITEM_ID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_FOLDER_ID = re.compile(rf"FOLDER::{re.escape(_ZONE)}::{_ITEM_ID}")
_FILE_ID = re.compile(rf"FILE::{re.escape(_ZONE)}::{_ITEM_ID}")
_FILE_NAME = re.compile(r"walletbackup-key-[0-9a-f]{12}-[0-9a-f]{1,64}-DO-NOT-DELETE\.bin")
_KEYS = frozenset({"v", "folder", "folder_id", "file", "file_id"})
_MAX_FOLDER_NAME = 255


def key_file_name(context: MethodContext) -> str:
    """``walletbackup-key-<wallet hash>-<stanza id>-DO-NOT-DELETE.bin``: new for every stanza."""
    wallet = hashlib.sha256(context.wallet_id.encode()).hexdigest()[:12]
    name = f"walletbackup-key-{wallet}-{context.stanza_id}-DO-NOT-DELETE.bin"
    if not _FILE_NAME.fullmatch(name):
        raise ValueError("icloud: the stanza id must be lowercase hex")
    return name


@dataclass(frozen=True)
class KeyFileRef:
    """Where the key is: the folder and file, by name (for people) and by iCloud item id.

    The ids are what count: a file renamed in place is still found, and a different file put
    under the same name (same name, other item) is recognised as a replacement.
    """

    folder: str
    folder_id: str
    file: str
    file_id: str

    def to_args(self) -> dict[str, JsonValue]:
        return {
            "v": ARGS_VERSION,
            "folder": self.folder,
            "folder_id": self.folder_id,
            "file": self.file,
            "file_id": self.file_id,
        }

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> KeyFileRef:
        """Check every stanza argument strictly (:class:`MalformedBackup` naming the field)."""
        check_arg_names(args, _KEYS, method="icloud")
        require(args, "v", int, method="icloud", choices=(ARGS_VERSION,))

        def text(key: str, what: str, **checks: Any) -> str:
            value: str = require(args, key, str, method="icloud", what=what, **checks)
            return value

        return cls(
            folder=text("folder", "a folder name", check=_is_folder_name),
            folder_id=text("folder_id", "an iCloud Drive folder id", pattern=_FOLDER_ID),
            file=text("file", "a walletbackup key file name", pattern=_FILE_NAME),
            file_id=text("file_id", "an iCloud Drive file id", pattern=_FILE_ID),
        )


def _is_folder_name(name: str) -> bool:
    return 0 < len(name) <= _MAX_FOLDER_NAME and "/" not in name and name.isprintable()


__all__ = ["FOLDER_NAME", "README_NAME", "README_TEXT", "KeyFileRef", "key_file_name"]
