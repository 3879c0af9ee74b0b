"""Groups of clips (review `group` links a clip to its predecessor): union of the links."""

from __future__ import annotations

from collections.abc import Iterable


def connected(links: Iterable[tuple[int, int | None]]) -> list[list[int]]:
    """Clips joined by `grouped_with` links, each group sorted, groups by their first id."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    items = list(links)
    for clip_id, _ in items:
        find(clip_id)
    for clip_id, partner in items:
        if partner is not None and partner in parent:
            a, b = find(clip_id), find(partner)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for clip_id in parent:
        groups.setdefault(find(clip_id), []).append(clip_id)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: g[0])
