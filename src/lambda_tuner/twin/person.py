"""A person reading the digest: finds the links in the email text and answers the approval page over HTTP.

Like a browser without scripts: GET the link, read the page's form, POST it back. The demo uses it; the
browser test does the same with real Chromium.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser

LINK = re.compile(r"(approve|reject):\s*(https?://\S+)", re.IGNORECASE)


def links_in(text: str) -> list[tuple[str, str]]:
    """(action, url) for every approve/reject link in a digest, in order."""
    return [(m.group(1).lower(), m.group(2)) for m in LINK.finditer(text)]


@dataclass
class _Form(HTMLParser):
    forms: list[dict[str, str]] = field(default_factory=list)
    title: str = ""
    _in_title: bool = False

    def __post_init__(self) -> None:
        super().__init__()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"__action__": a.get("action", ""), "__method__": a.get("method", "get")})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1][a["name"]] = a.get("value", "")
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


@dataclass(frozen=True)
class Answer:
    status: int
    title: str
    html: str


def _fetch(request: urllib.request.Request) -> Answer:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback twin only
            html = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as exc:
        html, status = exc.read().decode(), exc.code
    parser = _Form()
    parser.feed(html)
    return Answer(status=status, title=parser.title.strip(), html=html)


def _loopback(url: str) -> str:
    """The person only ever follows links to the twin on this machine."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "http" or parsed.hostname not in ("127.0.0.1", "localhost"):
        raise ValueError(f"refusing to open {url!r}: the demo's person follows links to the local twin only")
    return url


def open_link(url: str) -> tuple[Answer, dict[str, str] | None]:
    """GET the link as a mail client would; returns the page and its form (None when it has none)."""
    answer = _fetch(urllib.request.Request(_loopback(url), headers={"User-Agent": "lambda-tuner-demo/1.0"}))  # noqa: S310
    parser = _Form()
    parser.feed(answer.html)
    form = next((f for f in parser.forms if f.get("__method__", "").lower() == "post"), None)
    return answer, form


def submit(page_url: str, form: dict[str, str]) -> Answer:
    """POST the page's form back to where it points, as pressing its button does."""
    target = urllib.parse.urljoin(page_url, form.get("__action__") or "./")
    fields = {k: v for k, v in form.items() if not k.startswith("__")}
    body = urllib.parse.urlencode(fields).encode()
    return _fetch(
        urllib.request.Request(  # noqa: S310 - checked by _loopback
            _loopback(target),
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "lambda-tuner-demo/1.0",
            },
        )
    )


def decide(url: str) -> tuple[Answer, Answer | None]:
    """Open the link and press the page's button; returns (page, result) — result None if no form."""
    page, form = open_link(url)
    if form is None:
        return page, None
    return page, submit(url, form)
