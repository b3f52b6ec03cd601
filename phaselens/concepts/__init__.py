"""Concept explanations (CRAFT, Fel et al. CVPR 2023; holistic concepts, Fel et al. NeurIPS 2023): the numerics.

- `factorize`: A ≈ U W of activations, batched over classes in torch: `nmf`, `semi_nmf`, `pca`, and
  `transform` (coefficients of new activations with W fixed).
- `nnls`: the batched NNLS solver and `nnls_coefficients`, differentiable through the active set
  (pixel-level concept maps by autograd).
- `sobol`: the QMC design (`sobol_design`, `concept_masks`) and Jansen's estimator (`total_indices`) for
  concept importance by total Sobol indices; `total_sobol` for a plain function. Needs scipy.

The model-facing half:

- `split`: `split_model(model, layer)` gives f = h ∘ g at a layer (`Split`, `Activations`).
- `bank`: `ConceptBank`, the concepts W of one class at one layer, saved as safetensors.
- `extract`: `extract` / `extract_many` fit banks on crops (CRAFT) or positions (holistic).
- `importance`: `importance` by Gradient × Input or total Sobol indices (`Importance`).
- `maps`: `concept_maps` (per position or pixel-level) and `top_crops`.
"""

from .bank import ConceptBank, load_banks, save_banks
from .extract import crop_activations, crop_boxes, default_patch, extract, extract_many, position_activations
from .factorize import Factorization, nmf, pca, semi_nmf, transform
from .importance import Importance, importance
from .maps import concept_maps, top_crops
from .nnls import nnls_coefficients
from .sobol import concept_masks, sobol_design, total_indices, total_sobol
from .split import Activations, Split, split_model

__all__ = [
    "Activations",
    "ConceptBank",
    "Factorization",
    "Importance",
    "Split",
    "concept_maps",
    "concept_masks",
    "crop_activations",
    "crop_boxes",
    "default_patch",
    "extract",
    "extract_many",
    "importance",
    "load_banks",
    "nmf",
    "nnls_coefficients",
    "pca",
    "position_activations",
    "save_banks",
    "semi_nmf",
    "sobol_design",
    "split_model",
    "top_crops",
    "total_indices",
    "total_sobol",
    "transform",
]
