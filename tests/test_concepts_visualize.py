"""MACO images of concept directions, batched over banks and classes."""

from __future__ import annotations

import torch

from phaselens import load_model
from phaselens.concepts.bank import ConceptBank
from phaselens.concepts.visualize import concept_seed, visualize_concepts

FAST = dict(steps=6, image_size=32, crops=2)


def test_every_concept_of_every_bank_gets_an_image_that_does_not_depend_on_its_batch():
    model = load_model("zoo:cnn")
    torch.manual_seed(0)
    banks = [
        ConceptBank(torch.rand(3, 128), layer="layer3", class_id=0),
        ConceptBank(torch.rand(2, 128), layer="layer3", class_id=4),
        ConceptBank(torch.rand(2, 64), layer="layer2", class_id=4),
    ]
    made = visualize_concepts(model, banks, batch=4, **FAST)
    assert [m.images.shape[0] for m in made] == [3, 2, 2]
    assert made[0].images.shape[1:] == (3, 32, 32) and made[0].transparency.shape == made[0].images.shape
    assert made[1].seeds == [concept_seed(0, 4, 0), concept_seed(0, 4, 1)]
    assert len(set(made[1].seeds + made[2].seeds)) == 2  # same class and index: the same seed, any layer
    alone = visualize_concepts(model, banks[1:2], batch=1, **FAST)[0]
    # Batched with other classes or alone: the same images (to float rounding of batched convolutions).
    assert torch.allclose(alone.images, made[1].images, atol=1e-4)
    assert all(s > 0 for s in made[0].scores)  # the ascent found images aligned with each direction
