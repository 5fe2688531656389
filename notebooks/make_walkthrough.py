"""Writes notebooks/walkthrough.ipynb (kept as code so the notebook stays reviewable).

.venv/bin/python notebooks/make_walkthrough.py
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
    new_markdown_cell(
        "# One face through the stages\n\n"
        "The library behind the Kedro pipelines, used directly with the same typed settings "
        "(defaults in code): the numbers are the ones the pipeline computes. The photo is "
        "scikit-image's astronaut (public domain); to use your own, set `PHOTO` to a file path."
    ),
    new_code_cell(
        "from pathlib import Path\n"
        "import io\n"
        "import numpy as np\n"
        "import matplotlib.pyplot as plt\n"
        "from PIL import Image\n"
        "from skimage import data\n\n"
        "PHOTO = None  # or a path to your own photo\n"
        "if PHOTO:\n"
        "    photo_bytes = Path(PHOTO).read_bytes()\n"
        "else:\n"
        "    buffer = io.BytesIO(); Image.fromarray(data.astronaut()).save(buffer, format='PNG'); photo_bytes = buffer.getvalue()"
    ),
    new_markdown_cell("## 1. Preprocess: detect, 478 landmarks, level the eyes, crop with mirrored padding"),
    new_code_cell(
        "from facial_anomaly.faces import PreprocessConfig, locate_face, render_aligned_face\n"
        "config = PreprocessConfig()  # or PreprocessConfig(alignment_preset='paper_1024')\n"
        "geometry, rgb = locate_face(photo_bytes, config)\n"
        "print(geometry.status, geometry.detail, f'faces={geometry.face_count}', f'roll={geometry.roll_degrees:.2f}°')\n"
        "face, mask = render_aligned_face(rgb, geometry, config)\n"
        "landmarks = geometry.aligned_landmarks()\n"
        "fig, axes = plt.subplots(1, 3, figsize=(12, 4))\n"
        "axes[0].imshow(rgb); axes[0].set_title('photo')\n"
        "axes[1].imshow(face); axes[1].scatter(landmarks[:, 0], landmarks[:, 1], s=1, c='cyan'); axes[1].set_title('aligned + landmarks')\n"
        "axes[2].imshow(mask, cmap='gray'); axes[2].set_title('foreground mask')\n"
        "[a.axis('off') for a in axes];"
    ),
    new_markdown_cell("## 2. Normalize: the same face with unilateral shape differences removed (`symmetry`)"),
    new_code_cell(
        "from facial_anomaly.normalizers import build_normalizer\n"
        "from facial_anomaly.normalizers.config import NormalizeConfig\n"
        "normalizer = build_normalizer('symmetry', NormalizeConfig())\n"
        "normalized = normalizer.normalize(face, landmarks).image\n"
        "fig, axes = plt.subplots(1, 2, figsize=(8, 4))\n"
        "axes[0].imshow(face); axes[0].set_title('aligned'); axes[1].imshow(normalized); axes[1].set_title('normalized')\n"
        "[a.axis('off') for a in axes];"
    ),
    new_markdown_cell("## 3. Heatmap (PSE in YCbCr, eroded) and the mouth/nose region"),
    new_code_cell(
        "from facial_anomaly.heatmaps import heatmap, image_panel, region_mask\n"
        "from facial_anomaly.heatmaps.config import HeatmapsConfig\n"
        "settings = HeatmapsConfig()\n"
        "heat = heatmap(face, normalized, **settings.map_settings())\n"
        "region = region_mask(landmarks, face.shape, 'mouth_nose', **settings.regions.mouth_nose)\n"
        "panel = image_panel(face, normalized, heat, face_mask=mask, region_mask=region, vmax=float(np.percentile(heat, 99)),\n"
        "                    image_name='astronaut', variant='pse_ycbcr_eroded__mouth_nose', score=float(heat[region].mean()), percentile=None)\n"
        "plt.figure(figsize=(14, 5)); plt.imshow(panel); plt.axis('off');"
    ),
    new_markdown_cell("## 4. Scores: the default variant, the paper's S, and the whole grid"),
    new_code_cell(
        "from facial_anomaly.scoring import anomaly_score, score_variants\n"
        "grid = settings.grid.model_dump()\n"
        "grid['kinds'] = [k for k in grid['kinds'] if k != 'lpips']  # LPIPS needs ImageNet weights you provide\n"
        "print('anomaly_score (mouth_nose):', anomaly_score(heat, region))\n"
        "variants = score_variants(face, normalized, landmarks, grid=grid, statistic='anomaly_score', **settings.scoring_options())\n"
        "for name, value in variants.items():\n"
        "    print(f'{name:40s} {value:10.4f}')"
    ),
]


def main() -> None:
    notebook = new_notebook(
        cells=CELLS, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    path = Path(__file__).with_name("walkthrough.ipynb")
    nbformat.write(notebook, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
