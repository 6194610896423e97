"""A scripted browser for the installed-app sign-in: registered with ``webbrowser.register``.

``open(url)`` does what a person's browser does: it loads the sign-in page (the fake's auth
endpoint), follows its redirect to the flow's loopback ``redirect_uri`` with the code and state,
and keeps the page it lands on. It runs in a thread, because the flow starts listening for the
redirect only after ``open`` returns. Every fetch has a timeout; proxies are bypassed.
"""

from __future__ import annotations

import threading
import urllib.request
import webbrowser

FETCH_TIMEOUT = 10.0


class ScriptedBrowser(webbrowser.BaseBrowser):
    def __init__(self) -> None:
        super().__init__("walletbackup-scripted")
        self.opened: list[str] = []
        self.landed: list[str] = []  # the URL each visit ended on
        self.pages: list[str] = []
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.opened.append(url)
        thread = threading.Thread(target=self._visit, args=(url,), daemon=True)
        self._threads.append(thread)
        thread.start()
        return True

    def _visit(self, url: str) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(url, timeout=FETCH_TIMEOUT) as response:
                self.landed.append(response.url)
                self.pages.append(response.read().decode())
        except BaseException as exc:
            self.errors.append(exc)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(FETCH_TIMEOUT + 1)
            assert not thread.is_alive(), "the scripted browser did not finish"
