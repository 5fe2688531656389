"""Pretrained ImageNet features of aligned faces (EfficientNet-Lite0; no download, no Kedro):
the backbone with its taps (:mod:`.backbone`) and the crops it looks at (:mod:`.crops`)."""

from .backbone import (
    BLOCK_CHANNELS,
    BLOCK_STRIDES,
    BackboneConfig,
    FaceFeatures,
    FeatureExtractor,
    cached_features,
    clear_feature_cache,
    efficientnet_lite0,
    feature_extractor,
    to_input,
    weights_file,
)
from .crops import CROPS, FaceCrop, LowerFaceCrop, crop_matrix, face_crop

__all__ = [
    "BLOCK_CHANNELS",
    "BLOCK_STRIDES",
    "BackboneConfig",
    "CROPS",
    "FaceCrop",
    "FaceFeatures",
    "FeatureExtractor",
    "LowerFaceCrop",
    "cached_features",
    "clear_feature_cache",
    "crop_matrix",
    "efficientnet_lite0",
    "face_crop",
    "feature_extractor",
    "to_input",
    "weights_file",
]
