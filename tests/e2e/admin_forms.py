"""The Django admin driven over HTTP, as a person would: log in, read a change form, submit it
with some fields changed (for changes made on one worker's admin in cross-process tests)."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser

import httpx

FormFields = list[tuple[str, str]]


class _FormReader(HTMLParser):
    """The fields a browser would submit from the page's forms: inputs (checked boxes only),
    selected options and textareas; submit buttons are left out."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: FormFields = []
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {key: value or "" for key, value in attrs}
        name = attr.get("name")
        if tag == "input" and name:
            kind = attr.get("type", "text")
            if kind in ("submit", "button", "image", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attr:
                return
            self.fields.append((name, attr.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in attr:
            self.fields.append((self._select, attr.get("value", "")))
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields.append((name, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            name, text = self.fields[-1]
            self.fields[-1] = (name, text + data)


def admin_client(base: str, username: str, password: str) -> httpx.Client:
    """An HTTP client logged in to the admin at ``base`` (its session cookie set)."""
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=10)
    page = client.get("/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    response = client.post(
        "/admin/login/?next=/admin/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": token[1],
            "next": "/admin/",
        },
    )
    assert response.status_code == 302, response.text[:2000]
    return client


def change_object(
    client: httpx.Client, path: str, edit: Callable[[FormFields], FormFields]
) -> None:
    """Submit the admin change form at ``path`` with ``edit`` applied to its fields."""
    page = client.get(path)
    assert page.status_code == 200, page.text[:500]
    reader = _FormReader()
    reader.feed(page.text)
    data: dict[str, list[str]] = {}
    for name, value in [*edit(reader.fields), ("_save", "Save")]:
        data.setdefault(name, []).append(value)
    response = client.post(path, data=data)
    assert response.status_code == 302, response.text[:3000]


def logout(client: httpx.Client) -> None:
    page = client.get("/admin/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    response = client.post("/admin/logout/", data={"csrfmiddlewaretoken": token[1]})
    assert response.status_code in (200, 302), response.text[:500]


def without(*names: str) -> Callable[[FormFields], FormFields]:
    """An edit that leaves these fields out: an unchecked box, an emptied multiple select."""
    return lambda fields: [(name, value) for name, value in fields if name not in names]


def delete_object(client: httpx.Client, path: str) -> None:
    """Confirm the admin's delete page at ``path`` (``.../<pk>/delete/``)."""
    page = client.get(path)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    response = client.post(path, data={"csrfmiddlewaretoken": token[1], "post": "yes"})
    assert response.status_code == 302, response.text[:2000]
