"""Constants shared by the end-to-end tests (a plain module: conftest names clash across dirs)."""

#: Cheap but allowed Argon2 costs: the flagged low-memory profile (t=2, 19 MiB) at its floor.
FAST = {"low_memory": True, "target_seconds": 0.001}
PASSWORD = "correct horse battery staple 42"
OTHER_PASSWORD = "another perfectly fine passphrase 7"
