"""Strategies (the strategic cluster graph) and relations between concepts, on known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from phaselens.concepts.relations import (
    alignment,
    head_directions,
    links,
    match,
    similarity,
    similarity_layout,
    stability,
)
from phaselens.concepts.strategies import strategies
from phaselens.errors import PhaseLensError


def two_strategies(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images decided by concept 0 or by concept 2 (of 4), with noise."""
    rng = np.random.default_rng(seed)
    group = np.arange(n) % 2
    imp = rng.uniform(0, 0.3, (n, 4))
    imp[group == 0, 0] += 2.0
    imp[group == 1, 2] += 2.0
    return imp, group


@pytest.mark.parametrize("method", ["tsne", "pca"])
def test_strategy_graph_separates_images_decided_for_different_reasons(method):
    imp, group = two_strategies()
    s = strategies(imp, min_images=10, method=method, seed=0)
    assert s.dominant.tolist() == [0 if g == 0 else 2 for g in group]
    assert s.counts.tolist() == [20, 0, 20, 0] and s.important.tolist() == [True, False, True, False]
    assert s.num_important == 2 and np.abs(s.points).max() == pytest.approx(1.0)
    # Each image's nearest neighbour in the plane follows the same strategy.
    d = np.linalg.norm(s.points[:, None] - s.points[None], axis=2) + np.eye(len(group)) * 9
    assert (group[d.argmin(axis=1)] == group).all()


def test_strategies_are_seeded_and_handle_tiny_classes():
    imp, _ = two_strategies(30)
    a, b = strategies(imp, seed=3), strategies(imp, seed=3)
    assert np.array_equal(a.points, b.points)
    one = strategies(np.array([[0.0, 1.0]]))
    assert one.points.tolist() == [[0.0, 0.0]] and one.dominant.tolist() == [1]


@pytest.mark.parametrize(
    "bad, words", [(np.zeros((0, 3)), "shape"), (np.array([1.0, 2.0]), "shape"), (np.full((2, 2), np.nan), "NaN")]
)
def test_strategies_refuse_bad_importances(bad, words):
    with pytest.raises(PhaseLensError, match=words):
        strategies(bad)
    with pytest.raises(PhaseLensError, match="umap|embedding"):
        strategies(np.ones((5, 2)), method="umap-ish")


def test_similarity_and_its_layout_keep_similar_concepts_close():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(2, 16))
    W = np.stack([base[0], base[0] + 0.05 * rng.normal(size=16), base[1], base[1] + 0.05 * rng.normal(size=16)])
    sim = similarity(W)
    assert np.allclose(np.diag(sim), 1) and np.allclose(sim, sim.T) and sim[0, 1] > 0.99
    pts = similarity_layout(sim)
    d = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    assert d[0, 1] < 0.1 * d[0, 2] and d[2, 3] < 0.1 * d[1, 3]
    assert np.array_equal(pts, similarity_layout(sim))


def test_head_directions_of_a_pooled_linear_head_are_its_weights_and_alignment_ranks_them():
    torch.manual_seed(0)
    fc = nn.Linear(8, 6)

    def h(a):  # (M, h, w, D) -> logits: global average pooling + linear
        return fc(a.mean(dim=(1, 2)))

    dirs = head_directions(h, (3, 4), 8, batch=3)
    assert torch.allclose(dirs, fc.weight.detach(), atol=1e-6)
    W = torch.stack([fc.weight[4].detach() * 2, -fc.weight[1].detach()])
    al = alignment(W, dirs, top=3)
    assert al.classes[0, 0] == 4 and al.cosines[0, 0] == pytest.approx(1.0)
    assert al.classes.shape == (2, 3) and (np.diff(al.cosines, axis=1) <= 1e-12).all()
    with pytest.raises(PhaseLensError, match="channels"):
        alignment(W[:, :4], dirs)


def test_links_join_the_shared_concept_of_two_classes_only():
    rng = np.random.default_rng(1)
    shared = rng.normal(size=32)
    a = np.stack([shared, rng.normal(size=32)])
    b = np.stack([rng.normal(size=32), shared * 3 + 0.01 * rng.normal(size=32)])
    c = rng.normal(size=(2, 32))
    found = links([a, b, c], [7, 8, 9], threshold=0.9)
    assert {(k.cls, k.concept, k.other, k.other_concept) for k in found} == {(7, 0, 8, 1), (8, 1, 7, 0)}
    assert all(k.cosine > 0.99 for k in found)


def _links_by_brute_force(banks, classes, threshold, per_concept):
    """Every column of every row, sorted: what `links` finds from a few candidates per row."""
    units = [w / np.linalg.norm(w, axis=1, keepdims=True) for w in banks]
    owner = np.concatenate([np.full(len(u), i) for i, u in enumerate(units)])
    index = np.concatenate([np.arange(len(u)) for u in units])
    allv = np.concatenate(units)
    cos = allv @ allv.T
    out = set()
    for a in range(len(allv)):
        best = {}
        for b in np.argsort(-cos[a], kind="stable"):
            if owner[b] != owner[a] and cos[a, b] >= threshold:
                best.setdefault(int(owner[b]), (cos[a, b], b))
        for other, (_, b) in sorted(best.items(), key=lambda kv: -kv[1][0])[:per_concept]:
            out.add((classes[owner[a]], int(index[a]), classes[other], int(index[b])))
    return out


@pytest.mark.parametrize("threshold", [0.5, 0.8, 0.95])
def test_links_from_candidates_equal_the_brute_force_search(threshold):
    rng = np.random.default_rng(3)
    banks = [np.abs(rng.normal(size=(int(rng.integers(2, 7)), 6))) for _ in range(30)]
    banks[4] = banks[9][:2].copy()  # exact ties between classes
    classes = list(range(100, 130))
    found = links(banks, classes, threshold=threshold, chunk=7)  # rows in several chunks
    assert found and {(k.cls, k.concept, k.other, k.other_concept) for k in found} == _links_by_brute_force(
        banks, classes, threshold, 3
    )


def test_matching_and_stability_recover_a_permutation():
    rng = np.random.default_rng(2)
    W = np.abs(rng.normal(size=(5, 20)))
    perm = [3, 0, 4, 1, 2]
    pairs, cos = match(W, W[perm] * 2.0)
    assert sorted(pairs.tolist()) == sorted([p, i] for i, p in enumerate(perm))
    assert np.allclose(cos, 1) and stability(W, W[perm]) == pytest.approx(1.0)
    assert stability(W, np.abs(rng.normal(size=(5, 20)))) < 0.95
