"""Difference maps between a face and its normalized version (Hayajneh et al. 2022 §1.3).

Four kinds, each computed per channel in a colour space from :mod:`.color`:

* ``pse`` — pixelwise squared error (eq. 4), ``(original − normalized)²`` on the 8-bit scale;
* ``ssim`` — structural dissimilarity ``(1 − SSIM) / 2`` in [0, 1] (SSIM of Wang et al. 2004);
* ``lpips`` — the spatial LPIPS distance (Zhang et al. 2018), one channel;
* ``deep`` — an LPIPS-style distance of ImageNet EfficientNet-Lite0 features, one channel
  in [0, 4] (:mod:`.deep`; the network sees RGB whatever the colour space).

:func:`heatmap` chains map → erosion (eq. 5) → channel reduction into the H×W float32
map ≥ 0 (larger = more different) that the rest of the project calls a heatmap.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from .color import channel_ranges, to_color_space, ycbcr_to_rgb
from .morphology import erode

HEATMAP_KINDS = ("pse", "ssim", "lpips", "deep")
# Kinds whose map is placed from the face's landmarks (channel_map passes them on).
LANDMARK_KINDS = ("deep",)
CHANNEL_REDUCTIONS = ("sum", "mean")

# LPIPS trunk name → torchvision ImageNet weights that ``lpips`` loads through
# ``torchvision.models.<arch>(pretrained=True)`` (the legacy flag means IMAGENET1K_V1).
_LPIPS_BACKBONE_WEIGHTS = {
    "alex": "AlexNet_Weights",
    "vgg": "VGG16_Weights",
    "squeeze": "SqueezeNet1_1_Weights",
}


class HeatmapKindUnavailable(Exception):
    """A known heatmap kind cannot be computed on this machine (e.g. missing model weights)."""


class LpipsUnavailable(HeatmapKindUnavailable):
    """LPIPS weights are not on disk; the message names the missing file and its folder."""


class DeepFeaturesUnavailable(HeatmapKindUnavailable):
    """The EfficientNet-Lite0 packages are not installed; the message names them."""


# --------------------------------------------------------------------------- helpers


def _check_kind(kind: str) -> None:
    if kind not in HEATMAP_KINDS:
        raise ValueError(f"unknown heatmap kind {kind!r}; valid: {list(HEATMAP_KINDS)}")


def _check_pair(original: np.ndarray, normalized: np.ndarray) -> None:
    if original.shape != normalized.shape:
        raise ValueError(f"original {original.shape} and normalized {normalized.shape} differ in shape")


def reduce_channels(channel_map: np.ndarray, *, reduction: str) -> np.ndarray:
    """Collapse an H×W×C map to H×W.

    Args:
        channel_map: H×W×C float map ≥ 0.
        reduction: ``"sum"`` (for PSE: the squared Euclidean colour distance) or
            ``"mean"`` (keeps the per-channel scale, e.g. SSIM dissimilarity in [0, 1]).

    Returns:
        H×W ``float32`` ≥ 0.

    Raises:
        ValueError: for an unknown reduction or a map that is not H×W×C.
    """
    if reduction not in CHANNEL_REDUCTIONS:
        raise ValueError(f"unknown channel reduction {reduction!r}; valid: {list(CHANNEL_REDUCTIONS)}")
    if channel_map.ndim != 3:
        raise ValueError(f"expected an H×W×C map, got shape {channel_map.shape}")
    # Adding channel slices is ~10× faster than ndarray.sum(axis=2) over the strided last axis.
    reduced = channel_map[..., 0].astype(np.float32, copy=True)
    for channel in range(1, channel_map.shape[2]):
        reduced += channel_map[..., channel]
    if reduction == "mean":
        reduced /= np.float32(channel_map.shape[2])
    return reduced


# --------------------------------------------------------------------------- kinds on converted images
# Each takes two H×W×3 float32 images already in ``color_space`` (from ``to_color_space``),
# so a caller comparing several kinds converts each image once.


def _pse(original: np.ndarray, normalized: np.ndarray, color_space: str) -> np.ndarray:
    difference = original - normalized
    return np.square(difference, out=difference)


# Constants of SSIM (Wang et al. 2004), as in skimage.metrics.structural_similarity.
_SSIM_K1, _SSIM_K2 = 0.01, 0.03


def _ssim(original: np.ndarray, normalized: np.ndarray, color_space: str, *, win_size: int) -> np.ndarray:
    """``(1 − SSIM) / 2`` per channel, equal to ``skimage.metrics.structural_similarity(full=True)``
    with a uniform window and each channel's nominal range as ``data_range``.

    The same formula as skimage (sample covariance, reflected borders) on OpenCV
    separable filters, several times faster than scipy's uniform_filter; tests check the
    equality with skimage (to float32 rounding, ~1e-4, as skimage's own float32 path).
    """
    if int(win_size) != win_size or win_size < 3 or win_size % 2 == 0:
        raise ValueError(f"SSIM win_size must be an odd integer ≥ 3, got {win_size!r}")
    low, high = channel_ranges(color_space)
    # SSIM is unchanged when both images and data_range are scaled by the same factor:
    # dividing each channel by its range makes data_range 1 and the constants scalars
    # (numpy broadcasts a per-channel vector several times slower than a scalar).
    unit_range = np.hstack([np.diag(1.0 / (high - low)), np.zeros((3, 1))]).astype(np.float32)
    x = cv2.transform(np.ascontiguousarray(original, dtype=np.float32), unit_range)
    y = cv2.transform(np.ascontiguousarray(normalized, dtype=np.float32), unit_range)
    c1, c2 = _SSIM_K1**2, _SSIM_K2**2
    window = int(win_size)
    sample_covariance = np.float32(window**2 / (window**2 - 1.0))
    uniform = np.full(window, 1.0 / window, dtype=np.float32)

    def local_mean(image: np.ndarray) -> np.ndarray:
        # Separable uniform kernel (a little faster than cv2.boxFilter here).
        # BORDER_REFLECT (cba|abc) is scipy's mode="reflect" that skimage uses.
        return cv2.sepFilter2D(image, -1, uniform, uniform, borderType=cv2.BORDER_REFLECT)

    # Every step writes into a buffer that is no longer needed: the same float32 operations
    # in the same order as the textbook expression, without a new array per operation.
    mean_x, mean_y = local_mean(x), local_mean(y)
    product = np.multiply(x, x)
    var_x = local_mean(product)
    var_y = local_mean(np.multiply(y, y, out=product))
    cov_xy = local_mean(np.multiply(x, y, out=product))
    mean_x_squared = np.multiply(mean_x, mean_x, out=x)
    mean_y_squared = np.multiply(mean_y, mean_y, out=y)
    mean_x_mean_y = np.multiply(mean_x, mean_y, out=mean_x)
    for moment, mean_product in ((var_x, mean_x_squared), (var_y, mean_y_squared), (cov_xy, mean_x_mean_y)):
        np.multiply(np.subtract(moment, mean_product, out=moment), sample_covariance, out=moment)
    # numerator = (2·μxμy + c1)(2·σxy + c2); denominator = (μx² + μy² + c1)(σx² + σy² + c2)
    numerator = np.add(np.multiply(mean_x_mean_y, 2, out=mean_y), c1, out=mean_y)
    np.multiply(numerator, np.add(np.multiply(cov_xy, 2, out=cov_xy), c2, out=cov_xy), out=numerator)
    denominator = np.add(np.add(mean_x_squared, mean_y_squared, out=mean_x_squared), c1, out=mean_x_squared)
    np.multiply(denominator, np.add(np.add(var_x, var_y, out=var_x), c2, out=var_x), out=denominator)
    # (1 − SSIM) / 2 = (denominator − numerator) / (2 · denominator); clip rounding below 0.
    dissimilarity = np.subtract(denominator, numerator, out=numerator)
    np.divide(dissimilarity, np.multiply(denominator, 2, out=denominator), out=dissimilarity)
    return np.clip(dissimilarity, 0.0, None, out=dissimilarity)


def _lpips(
    original: np.ndarray,
    normalized: np.ndarray,
    color_space: str,
    *,
    net: str,
    device: str,
    pretrained_backbone: bool,
) -> np.ndarray:
    import torch

    model = load_lpips(net, device=device, pretrained_backbone=pretrained_backbone)
    model_device = next(model.parameters()).device
    low, high = channel_ranges(color_space)

    def as_tensor(image: np.ndarray) -> "torch.Tensor":
        # LPIPS expects N×3×H×W in [-1, 1]; map each channel's nominal range onto it.
        scaled = (image - low) / (high - low) * 2.0 - 1.0
        return torch.from_numpy(np.ascontiguousarray(scaled.transpose(2, 0, 1)))[None].to(model_device)

    with torch.inference_mode():
        distance = model(as_tensor(original), as_tensor(normalized))  # 1×1×H×W
    spatial = distance[0].permute(1, 2, 0).float().cpu().numpy()
    # Squared feature differences weighted by non-negative calibration weights are ≥ 0;
    # clip bilinear-upsampling round-off to keep the contract.
    return np.clip(spatial, 0.0, None)


def _as_uint8_rgb(image: np.ndarray, color_space: str) -> np.ndarray:
    rgb = ycbcr_to_rgb(image) if color_space == "ycbcr" else image
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _deep(
    original: np.ndarray, normalized: np.ndarray, color_space: str, *, landmarks: np.ndarray | None = None, **options
) -> np.ndarray:
    from .deep import DeepHeatmapConfig, deep_distance_map

    config = DeepHeatmapConfig.model_validate(options)
    heat = deep_distance_map(
        _as_uint8_rgb(original, color_space), _as_uint8_rgb(normalized, color_space), landmarks, config
    )
    return heat[..., None]


_KIND_FUNCTIONS = {"pse": _pse, "ssim": _ssim, "lpips": _lpips, "deep": _deep}


def channel_map_converted(
    original: np.ndarray,
    normalized: np.ndarray,
    *,
    kind: str,
    color_space: str,
    kind_options: Mapping[str, Mapping],
    landmarks: np.ndarray | None = None,
) -> np.ndarray:
    """Per-channel difference map of two images already converted with ``to_color_space``.

    Args:
        original, normalized: H×W×3 float32 in ``color_space`` (8-bit scale).
        kind: one of :data:`HEATMAP_KINDS`.
        color_space: the space both images are in.
        kind_options: keyword arguments per kind, e.g. ``{"ssim": {"win_size": 7},
            "lpips": {"net": "alex", "device": "auto", "pretrained_backbone": True},
            "deep": {"backbone": {"taps": [2, 4, 10], "crop": "lower_face"}}}``
            (the ``kind_options`` block of ``parameters_heatmaps.yml``); ``pse`` takes none;
            a missing ``deep`` entry means its defaults (:class:`.deep.DeepHeatmapConfig`).
        landmarks: the original's (478, 2|3) landmarks; used by the kinds of
            :data:`LANDMARK_KINDS` (``deep`` places its lower-face crop with them).

    Returns:
        H×W×C float32 ≥ 0: C = 3 for ``pse`` and ``ssim``, 1 for ``lpips`` and ``deep``.

    Raises:
        ValueError: unknown kind, mismatched shapes, bad options, or ``deep`` with a
            lower-face crop and no landmarks.
        LpipsUnavailable: LPIPS weights missing (see :func:`load_lpips`).
        ImportError: ``deep`` without its packages (naming them).
    """
    _check_kind(kind)
    _check_pair(original, normalized)
    options = dict(kind_options.get(kind, {}))
    if kind in LANDMARK_KINDS:
        options["landmarks"] = landmarks
    return _KIND_FUNCTIONS[kind](original, normalized, color_space, **options)


def channel_map(
    original: np.ndarray,
    normalized: np.ndarray,
    *,
    kind: str,
    color_space: str,
    kind_options: Mapping[str, Mapping],
    landmarks: np.ndarray | None = None,
) -> np.ndarray:
    """Per-channel difference map of two RGB images (``uint8`` or float in [0, 1], H×W×3).

    Same as :func:`channel_map_converted` after converting both images to ``color_space``.
    """
    _check_pair(original, normalized)
    return channel_map_converted(
        to_color_space(original, color_space),
        to_color_space(normalized, color_space),
        kind=kind,
        color_space=color_space,
        kind_options=kind_options,
        landmarks=landmarks,
    )


# --------------------------------------------------------------------------- public per-kind maps


def pse_map(original: np.ndarray, normalized: np.ndarray, *, color_space: str) -> np.ndarray:
    """Pixelwise squared error per channel (Hayajneh et al. 2022 eq. 4).

    Args:
        original, normalized: H×W×3 RGB, ``uint8`` or float in [0, 1].
        color_space: ``"rgb"`` or ``"ycbcr"``; values are on the 8-bit scale.

    Returns:
        H×W×3 ``float32`` in [0, 255²].
    """
    return channel_map(original, normalized, kind="pse", color_space=color_space, kind_options={})


def ssim_map(original: np.ndarray, normalized: np.ndarray, *, color_space: str, win_size: int) -> np.ndarray:
    """Structural dissimilarity ``(1 − SSIM) / 2`` per channel.

    SSIM equals ``skimage.metrics.structural_similarity(full=True)`` with a uniform
    ``win_size``×``win_size`` window and each channel's nominal range as ``data_range``
    (computed with OpenCV box filters for speed).

    Args:
        original, normalized: H×W×3 RGB, ``uint8`` or float in [0, 1].
        color_space: ``"rgb"`` or ``"ycbcr"``.
        win_size: odd side of the SSIM window in pixels (≥ 3).

    Returns:
        H×W×3 ``float32`` in [0, 1] (0 = locally identical).
    """
    return channel_map(
        original, normalized, kind="ssim", color_space=color_space, kind_options={"ssim": {"win_size": win_size}}
    )


def lpips_map(
    original: np.ndarray,
    normalized: np.ndarray,
    *,
    color_space: str,
    net: str,
    device: str,
    pretrained_backbone: bool,
) -> np.ndarray:
    """Spatial LPIPS distance (``lpips.LPIPS(spatial=True)``), upsampled to the image size.

    Each channel's nominal range in ``color_space`` is mapped to [-1, 1] before the network.

    Args:
        original, normalized: H×W×3 RGB, ``uint8`` or float in [0, 1].
        color_space: ``"rgb"`` (LPIPS's native input) or ``"ycbcr"``.
        net: ``"alex"``, ``"vgg"`` or ``"squeeze"``.
        device: ``"auto"`` (cuda if available, else cpu), ``"cpu"``, ``"cuda"``, ...
        pretrained_backbone: False uses a random backbone (offline tests only).

    Returns:
        H×W×1 ``float32`` ≥ 0.

    Raises:
        LpipsUnavailable: when the weights are not on disk (nothing is downloaded).
    """
    options = {"net": net, "device": device, "pretrained_backbone": pretrained_backbone}
    return channel_map(original, normalized, kind="lpips", color_space=color_space, kind_options={"lpips": options})


# --------------------------------------------------------------------------- LPIPS model


# The file torchvision saves each trunk's IMAGENET1K_V1 weights as (the last part of the
# weights' URL; a test checks this table against torchvision). Knowing the names lets a run
# check for the files without importing torch, torchvision and lpips (seconds of start-up).
_LPIPS_BACKBONE_FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}


def _torch_hub_dir() -> Path:
    """``torch.hub.get_dir()``: asked of torch when it is imported already (it may have been
    set with ``torch.hub.set_dir``), else found as torch finds it: ``$TORCH_HOME/hub``, with
    ``$TORCH_HOME`` defaulting to ``$XDG_CACHE_HOME/torch`` and that to ``~/.cache/torch``."""
    import os
    import sys

    if "torch.hub" in sys.modules:
        return Path(sys.modules["torch.hub"].get_dir())
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return Path(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))) / "hub"


def lpips_backbone_file(net: str) -> Path:
    """Where torchvision looks for the ImageNet weights of an LPIPS trunk:
    ``torch.hub.get_dir()/checkpoints/<file>`` (``$TORCH_HOME/hub/checkpoints``).

    Raises:
        ValueError: for an unknown ``net``.
    """
    if net not in _LPIPS_BACKBONE_FILES:
        raise ValueError(f"unknown LPIPS net {net!r}; valid: {sorted(_LPIPS_BACKBONE_WEIGHTS)}")
    return _torch_hub_dir() / "checkpoints" / _LPIPS_BACKBONE_FILES[net]


def _lpips_calibration_file(net: str) -> Path:
    """The linear calibration weights the ``lpips`` package ships (``weights/v0.1/<net>.pth``),
    found without importing the package (which imports torch and torchvision).

    Raises:
        LpipsUnavailable: the ``lpips`` package is not installed.
    """
    import importlib.util

    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        raise LpipsUnavailable("the heatmap kind 'lpips' needs the lpips package: pip install lpips")
    return Path(next(iter(spec.submodule_search_locations))) / "weights" / "v0.1" / f"{net}.pth"


def _check_lpips_files(net: str, pretrained_backbone: bool) -> None:
    if net not in _LPIPS_BACKBONE_WEIGHTS:
        raise ValueError(f"unknown LPIPS net {net!r}; valid: {sorted(_LPIPS_BACKBONE_WEIGHTS)}")
    required = [_lpips_calibration_file(net)]
    if pretrained_backbone:
        required.insert(0, lpips_backbone_file(net))
    for path in required:
        if not path.is_file():
            raise LpipsUnavailable(
                f"LPIPS ({net}) needs {path.name} in {path.parent}; it is not there and is never "
                f"downloaded here: copy the file into that folder (or set TORCH_HOME), or drop "
                f"'lpips' from the heatmap kinds"
            )


def load_lpips(net: str, *, device: str, pretrained_backbone: bool = True):
    """The LPIPS model (``spatial=True``, eval mode), cached per (net, device, backbone).

    The weight files are checked *before* anything is constructed, so a missing file
    raises instead of triggering torchvision's download.

    Args:
        net: ``"alex"``, ``"vgg"`` or ``"squeeze"``.
        device: ``"auto"`` (cuda if available, else cpu) or a torch device name.
        pretrained_backbone: True loads the ImageNet trunk from
            :func:`lpips_backbone_file`; False uses a random trunk (``pnet_rand=True``,
            offline, for tests — the distances are then not perceptual).

    Raises:
        LpipsUnavailable: naming the missing file and folder.
        ValueError: for an unknown ``net`` or an unavailable device.
    """
    from facial_anomaly.devices import resolve_device

    _check_lpips_files(net, pretrained_backbone)
    return _build_lpips(net, str(resolve_device(device)), pretrained_backbone)


@functools.lru_cache(maxsize=4)
def _build_lpips(net: str, device: str, pretrained_backbone: bool):
    import lpips

    with warnings.catch_warnings():
        # lpips calls torchvision with the deprecated ``pretrained=`` flag.
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net=net, spatial=True, pnet_rand=not pretrained_backbone, verbose=False)
    model.eval().requires_grad_(False)
    return model.to(device)


def context_radius(kind: str, *, kind_options: Mapping[str, Mapping]) -> int | None:
    """How far, in pixels, a map value depends on the images around its pixel: 0 for
    ``pse``, ``win_size // 2`` for ``ssim``, None for ``lpips`` and ``deep`` (deep features
    see the whole image or crop). A map computed on a crop is exact at least this far
    from the crop edges.

    Raises:
        ValueError: unknown kind.
    """
    _check_kind(kind)
    if kind == "pse":
        return 0
    if kind == "ssim":
        return int(kind_options["ssim"]["win_size"]) // 2
    return None


def ensure_kind_available(kind: str, *, kind_options: Mapping[str, Mapping]) -> None:
    """Raise now, once, if ``kind`` cannot be computed with these options (a pipeline can
    drop the kind from its grid instead of failing on every image).

    Raises:
        ValueError: unknown kind, or bad ``deep`` options.
        HeatmapKindUnavailable: the kind is known but cannot run here (LPIPS weights
            missing; the EfficientNet-Lite0 packages missing for ``deep``).
    """
    _check_kind(kind)
    if kind == "lpips":
        options = kind_options["lpips"]
        _check_lpips_files(options["net"], options["pretrained_backbone"])
    if kind == "deep":
        from facial_anomaly.features.backbone import weights_file

        from .deep import DeepHeatmapConfig

        DeepHeatmapConfig.model_validate(dict(kind_options.get("deep", {})))
        try:
            weights_file()
        except ImportError as error:
            raise DeepFeaturesUnavailable(str(error)) from error


# --------------------------------------------------------------------------- dispatcher


def heatmap(
    original: np.ndarray,
    normalized: np.ndarray,
    *,
    kind: str,
    color_space: str,
    erosion_size: int,
    erosion_iterations: int,
    channel_reduction: str,
    kind_options: Mapping[str, Mapping],
    local_contrast=None,
    eye_distance_px: float | None = None,
    landmarks: np.ndarray | None = None,
    comparison=None,
) -> np.ndarray:
    """The heatmap of one variant: per-channel map → erosion (eq. 5) → channel reduction.

    Args:
        original, normalized: H×W×3 RGB, ``uint8`` or float in [0, 1].
        kind: ``"pse"``, ``"ssim"``, ``"lpips"`` or ``"deep"``.
        color_space: ``"rgb"`` or ``"ycbcr"``.
        erosion_size: odd square-kernel side; ``erosion_iterations`` 0 disables erosion.
        channel_reduction: ``"sum"`` or ``"mean"`` (see :func:`reduce_channels`).
        kind_options: per-kind options (see :func:`channel_map_converted`).
        local_contrast: None, or a :class:`~.contrast.LocalContrastConfig` (or dict) to
            compare the images after local contrast normalisation (``pse`` and ``ssim``).
        eye_distance_px: the face's eye distance in pixels (sets the LCN window); needed
            with ``local_contrast`` unless ``landmarks`` are given.
        landmarks: the face's (478, 2|3) landmarks in pixels of ``original``. With them the
            pixel kinds see the images as :func:`~facial_anomaly.scoring.score_variants`
            does — exposure, colour and smoothing of :mod:`.compare` (``comparison``, a
            :class:`~.compare.PixelComparison` or dict; None = its defaults) — so the map
            is the one the scores are computed from. Without them the images are compared
            as they are. ``deep`` places its lower-face crop with them (required for it).

    Returns:
        H×W ``float32`` ≥ 0, larger = more different.

    Raises:
        ValueError: unknown kind, colour space or reduction; mismatched shapes; LCN with a
            kind other than pse/ssim or without ``eye_distance_px``.
        HeatmapKindUnavailable: the kind cannot run here (:class:`LpipsUnavailable`).
    """
    scale = 1.0
    if landmarks is not None and kind in ("pse", "ssim"):
        original, normalized, scales, eye_distance_px = _prepared(original, normalized, landmarks, comparison)
        scale = scales.get(f"{kind}_{color_space}" + ("_lcn" if local_contrast is not None else ""), 1.0)
    if local_contrast is None:
        per_channel = channel_map(
            original, normalized, kind=kind, color_space=color_space, kind_options=kind_options, landmarks=landmarks
        )
    else:
        per_channel = _lcn_channel_map(
            original, normalized, kind, color_space, kind_options, local_contrast, eye_distance_px
        )
    if scale != 1.0:
        per_channel = per_channel * np.float32(scale)
    per_channel = erode(per_channel, size=erosion_size, iterations=erosion_iterations)
    return reduce_channels(per_channel, reduction=channel_reduction)


def _prepared(original, normalized, landmarks, comparison):
    """Both images as :mod:`.compare` prepares them (RGB in [0, 1] units for
    ``to_color_space``), the map factors by variant key, and the eye distance."""
    from ..config import validated
    from ..faces.landmarks import eye_centers
    from .compare import PixelComparison, prepare_pair
    from .regions import full_face_mask

    _check_pair(original, normalized)
    settings = validated(PixelComparison, comparison, name="comparison")
    left, right = eye_centers(np.asarray(landmarks, dtype=np.float64))
    eye_distance_px = float(np.hypot(*(right - left)))
    pair = prepare_pair(original, normalized, full_face_mask(landmarks, original.shape), eye_distance_px, settings)
    images = [
        image if image.dtype == np.uint8 else image / np.float32(255.0) for image in (pair.original, pair.normalized)
    ]
    return images[0], images[1], pair.map_scale, eye_distance_px


def _lcn_channel_map(original, normalized, kind, color_space, kind_options, local_contrast, eye_distance_px):
    from ..config import validated
    from .contrast import LocalContrastConfig, lcn_sigma_px, local_contrast_normalize

    if kind not in ("pse", "ssim"):
        raise ValueError(f"local contrast normalisation applies to the pixel kinds pse and ssim, not {kind!r}")
    if eye_distance_px is None:
        raise ValueError("local contrast normalisation needs eye_distance_px (its window is in eye distances)")
    _check_pair(original, normalized)
    config = validated(LocalContrastConfig, local_contrast, name="local_contrast")
    sigma_px = lcn_sigma_px(config, eye_distance_px)
    images = [
        local_contrast_normalize(
            to_color_space(image, color_space), color_space=color_space, sigma_px=sigma_px, rms_floor=config.rms_floor
        )
        for image in (original, normalized)
    ]
    return channel_map_converted(*images, kind=kind, color_space=color_space, kind_options=kind_options)
