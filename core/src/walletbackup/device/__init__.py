"""The device's side of walletbackup, behind :class:`walletbackup.WalletBackup`.

``opening`` authenticates and opens client envelopes, ``writing`` seals and stores new
revisions, ``memory`` is what the device remembers between operations, ``discards`` deletes
obsolete remote key material, ``methods`` makes method instances, ``inputs`` checks arguments.
"""
