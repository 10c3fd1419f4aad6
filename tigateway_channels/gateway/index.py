"""The route index: which routes could match a request, found without testing all of them.

Every Path pattern has a literal prefix (``/api/users/{id}`` -> ``api``, ``users``); routes are
filed in a trie of those prefixes, one trie per literal Host (and one for routes that accept any
host). A request walks the trie along its own path segments and collects the routes filed on the
way, so the routes tested are those whose prefix the path starts with, whatever the size of the
table. Routes without a Path predicate are filed at the root and tested for every request. The
index only narrows: every candidate's predicates still decide.

The index is persistent: ``changed`` returns a new index that shares every node the change does
not touch (path copying), so a route change costs the nodes on its own prefixes, not a rebuild
of the whole trie, and the old index stays intact for the requests still using it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any, Protocol


class Indexable(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def order(self) -> int: ...

    @property
    def path_prefixes(self) -> tuple[tuple[str, ...], ...] | None: ...

    @property
    def host_literals(self) -> tuple[str, ...] | None: ...


def sort_key(route: Indexable) -> tuple[int, str]:
    """Table order: ``order`` ascending, then id."""
    return route.order, route.id


class _Node:
    __slots__ = ("children", "keys", "routes")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.keys: list[tuple[int, str]] = []  # sorted
        self.routes: tuple[Any, ...] = ()  # in the order of keys

    def copy(self) -> _Node:
        node = _Node()
        node.children = dict(self.children)
        node.keys = list(self.keys)
        node.routes = self.routes
        return node


class RouteIndex:
    """``candidates`` returns routes in table order."""

    __slots__ = ("_any", "_hosts")

    def __init__(self, routes: Iterable[Indexable] = ()) -> None:
        self._any = _Node()
        self._hosts: dict[str, _Node] = {}
        fresh: set[int] = {id(self._any)}
        for route in routes:
            self._file(route, fresh, add=True)

    def changed(self, removed: Iterable[Indexable], added: Iterable[Indexable]) -> RouteIndex:
        """A new index with ``removed`` taken out and ``added`` filed; this one is unchanged."""
        new = RouteIndex.__new__(RouteIndex)
        new._any = self._any
        new._hosts = dict(self._hosts)
        fresh: set[int] = set()  # nodes this change owns (copied or created)
        for route in removed:
            new._file(route, fresh, add=False)
        for route in added:
            new._file(route, fresh, add=True)
        return new

    def _own(self, node: _Node, fresh: set[int]) -> _Node:
        if id(node) in fresh:
            return node
        node = node.copy()
        fresh.add(id(node))
        return node

    def _file(self, route: Indexable, fresh: set[int], *, add: bool) -> None:
        hosts = route.host_literals
        for host in (None,) if hosts is None else hosts:
            if host is None:
                root = self._any = self._own(self._any, fresh)
            else:
                existing = self._hosts.get(host)
                if existing is None:
                    if not add:
                        continue
                    existing = _Node()
                    fresh.add(id(existing))
                root = self._hosts[host] = self._own(existing, fresh)
            for prefix in route.path_prefixes or ((),):
                node = root
                for segment in prefix:
                    child = node.children.get(segment)
                    if child is None:
                        if not add:
                            break
                        child = _Node()
                        fresh.add(id(child))
                    child = node.children[segment] = self._own(child, fresh)
                    node = child
                else:
                    _place(node, route, add)


def _place(node: _Node, route: Indexable, add: bool) -> None:
    key = sort_key(route)
    at = bisect.bisect_left(node.keys, key)
    present = at < len(node.keys) and node.keys[at] == key
    routes = list(node.routes)
    if add and not present:
        node.keys.insert(at, key)
        routes.insert(at, route)
    elif not add and present:
        del node.keys[at]
        del routes[at]
    else:
        return
    node.routes = tuple(routes)


def candidates(index: RouteIndex, host: str | None, segments: list[str]) -> tuple[Any, ...]:
    """The routes filed along the request's path (and Host), in table order."""
    found: list[tuple[Any, ...]] = []
    _collect(index._any, segments, found)
    if host is not None and index._hosts:
        root = index._hosts.get(host)
        if root is not None:
            _collect(root, segments, found)
    if len(found) == 1:
        return found[0]
    if not found:
        return ()
    merged = {route.id: route for routes in found for route in routes}
    return tuple(sorted(merged.values(), key=sort_key))


def _collect(node: _Node, segments: list[str], found: list[tuple[Any, ...]]) -> None:
    if node.routes:
        found.append(node.routes)
    for segment in segments:
        child = node.children.get(segment)
        if child is None:
            return
        node = child
        if node.routes:
            found.append(node.routes)
