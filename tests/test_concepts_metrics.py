"""Concept fidelity and ground-truth scores on cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from phaselens.concepts.metrics import (
    MAP_THRESHOLD,
    assign,
    binarize,
    deletion_insertion,
    mu_fidelity,
    part_iou,
    ranks_first,
    recovery,
    share_of,
)
from phaselens.errors import PhaseLensError

WEIGHTS = torch.tensor([4.0, 0.0, 2.0, 1.0])


def decode(u: torch.Tensor) -> torch.Tensor:
    """A linear decoder: logit = sum over positions of u . WEIGHTS."""
    return (u * WEIGHTS).sum(dim=-1).flatten(1).sum(dim=1)


def test_deletion_in_true_order_falls_fastest_and_insertion_rises_fastest():
    u = torch.rand(6, 3, 3, 4) + 0.5
    right = deletion_insertion(decode, u, torch.tensor([0, 2, 3, 1]))
    wrong = deletion_insertion(decode, u, torch.tensor([1, 3, 2, 0]))
    assert right["deletion"][0] == pytest.approx(1.0) and right["deletion"][-1] == pytest.approx(0.0)
    assert right["insertion"][0] == pytest.approx(0.0) and right["insertion"][-1] == pytest.approx(1.0)
    assert right["deletion_auc"] < wrong["deletion_auc"] and right["insertion_auc"] > wrong["insertion_auc"]
    with pytest.raises(PhaseLensError, match="permutation"):
        deletion_insertion(decode, u, torch.tensor([0, 0, 1, 2]))


def test_mu_fidelity_is_one_for_exact_importances_and_low_for_shuffled_ones():
    u = torch.rand(5, 2, 2, 4) + 0.5
    exact = (u * WEIGHTS).flatten(1, 2).sum(dim=1)  # (N, R): Gradient x Input of a linear decoder
    assert mu_fidelity(decode, u, exact) == pytest.approx(1.0, abs=1e-6)
    shuffled = exact[:, [1, 3, 0, 2]]
    assert mu_fidelity(decode, u, shuffled) < 0.6


def test_part_iou_recovery_and_assignment_on_planted_maps():
    n, h = 4, 16
    masks = {"disc": torch.zeros(n, h, h, dtype=torch.bool), "cross": torch.zeros(n, h, h, dtype=torch.bool)}
    masks["disc"][:, :6, :6] = True
    masks["cross"][:, 10:, 10:] = True
    masks["star"] = torch.zeros(n, h, h, dtype=torch.bool)
    masks["star"][:2, :6, 10:] = True  # the distractor, in half the images
    maps = torch.zeros(n, 3, h, h)
    maps[:, 0] = masks["cross"].float() * 2  # concept 0 is the cross
    maps[:, 1, :7, :6] = 1.0  # concept 1 is the disc, one row too tall
    maps[:, 2] = torch.rand(n, h, h) * 0.1  # concept 2 is diffuse noise
    names, iou = part_iou(maps, masks)
    assert names == ["disc", "cross", "star"]
    assert iou[1, 0] == pytest.approx(1.0) and iou[0, 1] == pytest.approx(36 / 42)
    assert iou[:, 2].max() < 0.3
    score, found = recovery(iou, names, ["disc", "cross"])
    assert score == 1.0 and found == {"disc": 1, "cross": 0}
    owners = assign(iou, names)
    assert owners[:2] == ["cross", "disc"]
    assert share_of(np.array([0.5, 0.3, 0.2]), owners, "cross") == pytest.approx(0.5)
    assert share_of(np.array([0.5, 0.3, 0.2]), owners, "star") == 0.0


def test_binarize_keeps_a_fraction_of_the_maximum_and_ignores_empty_maps():
    maps = torch.tensor([[[[0.0, 0.1], [0.3, 1.0]]], [[[0.0, 0.0], [0.0, 0.0]]]])
    assert MAP_THRESHOLD == 0.2
    assert binarize(maps)[0, 0].tolist() == [[False, False], [True, True]]
    assert binarize(maps, 0.5)[0, 0].tolist() == [[False, False], [False, True]]
    assert binarize(maps, 0.05)[0, 0].tolist() == [[False, True], [True, True]]
    assert not binarize(maps)[1].any()


def test_defining_parts_rank_first_relaxed_and_strict():
    owners = ["disc", "disc", "star", "cross", None]
    found = {"disc": 0, "cross": 3}
    # disc's second concept (1) ranks between the matched ones: relaxed holds, strict does not.
    assert ranks_first(np.array([0.5, 0.4, 0.1, 0.3, 0.0]), found, owners) == (True, False)
    assert ranks_first(np.array([0.5, 0.1, 0.0, 0.3, 0.2]), found, owners) == (True, True)
    # the star above the cross: neither.
    assert ranks_first(np.array([0.5, 0.1, 0.35, 0.3, 0.0]), found, owners) == (False, False)
    # a concept of no part above the cross: neither.
    assert ranks_first(np.array([0.5, 0.1, 0.0, 0.3, 0.31]), found, owners) == (False, False)
