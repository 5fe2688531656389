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

    mean_x, mean_y = local_mean(x), local_mean(y)
    mean_x_squared, mean_y_squared, mean_x_mean_y = mean_x * mean_x, mean_y * mean_y, mean_x * mean_y
    var_x = sample_covariance * (local_mean(x * x) - mean_x_squared)
    var_y = sample_covariance * (local_mean(y * y) - mean_y_squared)
    cov_xy = sample_covariance * (local_mean(x * y) - mean_x_mean_y)
    numerator = (2 * mean_x_mean_y + c1) * (2 * cov_xy + c2)
    denominator = (mean_x_squared + mean_y_squared + c1) * (var_x + var_y + c2)
    # (1 − SSIM) / 2 = (denominator − numerator) / (2 · denominator); clip rounding below 0.
    dissimilarity = (denominator - numerator) / (2 * denominator)
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


def lpips_backbone_file(net: str) -> Path:
    """Where torchvision looks for the ImageNet weights of an LPIPS trunk:
    ``torch.hub.get_dir()/checkpoints/<file>`` (``$TORCH_HOME/hub/checkpoints``).

    Raises:
        ValueError: for an unknown ``net``.
    """
    if net not in _LPIPS_BACKBONE_WEIGHTS:
        raise ValueError(f"unknown LPIPS net {net!r}; valid: {sorted(_LPIPS_BACKBONE_WEIGHTS)}")
    import torch
    import torchvision.models

    weights = getattr(torchvision.models, _LPIPS_BACKBONE_WEIGHTS[net]).IMAGENET1K_V1
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def _lpips_calibration_file(net: str) -> Path:
    """The linear calibration weights the ``lpips`` package ships (``weights/v0.1/<net>.pth``)."""
    import lpips

    return Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"


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
    landmarks: np.ndarray | None = None,
    local_contrast=None,
    eye_distance_px: float | None = None,
) -> np.ndarray:
    """The heatmap of one variant: per-channel map → erosion (eq. 5) → channel reduction.

    Args:
        original, normalized: H×W×3 RGB, ``uint8`` or float in [0, 1].
        kind: ``"pse"``, ``"ssim"``, ``"lpips"`` or ``"deep"``.
        color_space: ``"rgb"`` or ``"ycbcr"``.
        erosion_size: odd square-kernel side; ``erosion_iterations`` 0 disables erosion.
        channel_reduction: ``"sum"`` or ``"mean"`` (see :func:`reduce_channels`).
        kind_options: per-kind options (see :func:`channel_map_converted`).
        landmarks: the original's landmarks (needed by ``deep`` with its lower-face crop).
        local_contrast: None, or a :class:`~.contrast.LocalContrastConfig` (or dict) to
            compare the images after local contrast normalisation (``pse`` and ``ssim``).
        eye_distance_px: the face's eye distance in pixels (sets the LCN window); needed
            with ``local_contrast``.

    Returns:
        H×W ``float32`` ≥ 0, larger = more different.

    Raises:
        ValueError: unknown kind, colour space or reduction; mismatched shapes; LCN with a
            kind other than pse/ssim or without ``eye_distance_px``.
        HeatmapKindUnavailable: the kind cannot run here (:class:`LpipsUnavailable`).
    """
    if local_contrast is None:
        per_channel = channel_map(
            original, normalized, kind=kind, color_space=color_space, kind_options=kind_options, landmarks=landmarks
        )
    else:
        per_channel = _lcn_channel_map(
            original, normalized, kind, color_space, kind_options, local_contrast, eye_distance_px
        )
    per_channel = erode(per_channel, size=erosion_size, iterations=erosion_iterations)
    return reduce_channels(per_channel, reduction=channel_reduction)


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
