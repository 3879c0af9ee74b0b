from __future__ import annotations

from heaters.domain.groups import connected


def test_links_chain_into_groups_and_loners_stay_alone() -> None:
    links = [(1, None), (2, 1), (3, 2), (4, None), (5, None), (6, 5), (7, 99)]
    assert connected(links) == [[1, 2, 3], [4], [5, 6], [7]]


def test_order_of_links_does_not_matter() -> None:
    links = [(3, 2), (2, 1), (1, None)]
    assert connected(links) == connected(list(reversed(links))) == [[1, 2, 3]]
