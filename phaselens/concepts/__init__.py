"""Concept explanations (CRAFT, Fel et al. CVPR 2023; holistic concepts, Fel et al. NeurIPS 2023): the numerics.

- `factorize`: A ≈ U W of activations, batched over classes in torch: `nmf`, `semi_nmf`, `pca`, and
  `transform` (coefficients of new activations with W fixed).
- `nnls`: the batched NNLS solver and `nnls_coefficients`, differentiable through the active set
  (pixel-level concept maps by autograd).
- `sobol`: the QMC design (`sobol_design`, `concept_masks`) and Jansen's estimator (`total_indices`) for
  concept importance by total Sobol indices; `total_sobol` for a plain function. Needs scipy.
"""

from .factorize import Factorization, nmf, pca, semi_nmf, transform
from .nnls import nnls_coefficients
from .sobol import concept_masks, sobol_design, total_indices, total_sobol

__all__ = [
    "Factorization",
    "concept_masks",
    "nmf",
    "nnls_coefficients",
    "pca",
    "semi_nmf",
    "sobol_design",
    "total_indices",
    "total_sobol",
    "transform",
]
