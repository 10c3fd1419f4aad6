"""The route index: which routes could match a request, found without testing all of them.

Every Path pattern has a literal prefix (``/api/users/{id}`` -> ``api``, ``users``); routes are
filed in a trie of those prefixes, one trie per literal Host (and one for routes that accept any
host). A request walks the trie along its own path segments and collects the routes filed on the
way, so the routes tested are those whose prefix the path starts with, whatever the size of the
table. Routes without a Path predicate are filed at the root and tested for every request. The
index only narrows: every candidate's predicates still decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Indexable(Protocol):
    @property
    def path_prefixes(self) -> tuple[tuple[str, ...], ...] | None: ...

    @property
    def host_literals(self) -> tuple[str, ...] | None: ...


class _Node:
    __slots__ = ("children", "positions")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.positions: list[int] = []


class RouteIndex:
    """Built once per route table; ``candidates`` returns table positions in ascending order."""

    __slots__ = ("_any", "_hosts")

    def __init__(self, routes: Sequence[Indexable]) -> None:
        self._any = _Node()
        self._hosts: dict[str, _Node] = {}
        for position, route in enumerate(routes):
            hosts = route.host_literals
            roots = (
                [self._any]
                if hosts is None
                else [self._hosts.setdefault(host, _Node()) for host in hosts]
            )
            for root in roots:
                for prefix in route.path_prefixes or ((),):
                    node = root
                    for segment in prefix:
                        child = node.children.get(segment)
                        if child is None:
                            child = node.children[segment] = _Node()
                        node = child
                    if not node.positions or node.positions[-1] != position:
                        node.positions.append(position)

    def candidates(self, host: str | None, segments: list[str]) -> list[int]:
        found: list[list[int]] = []
        _collect(self._any, segments, found)
        if host is not None and self._hosts:
            root = self._hosts.get(host)
            if root is not None:
                _collect(root, segments, found)
        if len(found) == 1:
            return found[0]
        if not found:
            return []
        merged: set[int] = set()
        for positions in found:
            merged.update(positions)
        return sorted(merged)


def _collect(node: _Node, segments: list[str], found: list[list[int]]) -> None:
    if node.positions:
        found.append(node.positions)
    for segment in segments:
        child = node.children.get(segment)
        if child is None:
            return
        node = child
        if node.positions:
            found.append(node.positions)
