"""``kedro run --pipeline heatmaps``: difference maps, region masks and overlays."""

from kedro.pipeline import Node, Pipeline

from .nodes import build_region_masks, compute_cam_heatmaps, compute_heatmaps, draw_cam_overlays, draw_heatmap_overlays


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                build_region_masks,
                inputs=["aligned_faces", "face_geometry", "landmarks", "params:scores"],
                outputs="region_masks",
                name="build_region_masks",
            ),
            Node(
                compute_heatmaps,
                inputs=["aligned_faces", "normalized_faces", "normalize_report", "params:heatmaps"],
                outputs="heatmap_maps",
                name="compute_heatmaps",
                tags="gpu",  # LPIPS heatmaps run on the GPU when one is present
            ),
            Node(
                draw_heatmap_overlays,
                inputs=[
                    "aligned_faces",
                    "heatmap_maps",
                    "raw_images",
                    "alignment",
                    "normalize_report",
                    "params:normalize",
                    "params:heatmaps",
                    "params:preprocess",
                ],
                outputs=["heatmap_overlays", "heatmap_overlays_original"],
                name="draw_heatmap_overlays",
            ),
            Node(
                compute_cam_heatmaps,
                inputs=[
                    "aligned_faces",
                    "normalized_faces",
                    "normalize_report",
                    "landmarks",
                    "supervised_checkpoints_if_trained",
                    "params:train_supervised",
                ],
                outputs="cam_maps",
                name="compute_cam_heatmaps",
                tags="gpu",
            ),
            Node(
                draw_cam_overlays,
                inputs=[
                    "aligned_faces",
                    "cam_maps",
                    "raw_images",
                    "alignment",
                    "normalize_report",
                    "params:train_supervised",
                    "params:preprocess",
                ],
                outputs=["cam_overlays", "cam_overlays_original"],
                name="draw_cam_overlays",
            ),
        ],
        tags="heatmaps",
    )
