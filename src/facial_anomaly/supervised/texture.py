"""A texture branch for lesions and scars: one MobileNetV2 branch on a high-resolution
crop of the lower face of the original.

Thin texture defects (scars a few pixels wide, small papules) vanish when the whole face
is shrunk to the 128 px of the shape models, so this branch sees the lower face (nose
to chin) at ≥ 256 px — about one aligned pixel per input pixel in the 512 px preset.
Its config typically keeps fewer MobileNetV2 modules (a finer feature map, stride 16,
and a smaller receptive field: texture, not shape) and uses ``max`` or ``avgmax``
pooling (a single scar covers a few cells of the map). The network is the single
branch's (:class:`~.single_branch.SingleBranchModel`); only its view differs.

Input: (N, 3, S, S) in [0, 1], S ≥ 256, the lower-face crop of the original.
"""

from __future__ import annotations

from .base import ModelConfig, register_architecture
from .single_branch import SingleBranchModel

MIN_IMAGE_SIZE = 256


@register_architecture
class TextureModel(SingleBranchModel):
    architecture = "texture"

    def __init__(self, config: ModelConfig):
        if config.image_size < MIN_IMAGE_SIZE:
            raise ValueError(f"the texture model works at ≥ {MIN_IMAGE_SIZE} px, got image_size {config.image_size}")
        super().__init__(config)
