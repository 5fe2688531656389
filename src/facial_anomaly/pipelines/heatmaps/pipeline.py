"""``kedro run --pipelines heatmaps``: the variant grid and the saved heat maps."""

from kedro.pipeline import Node, Pipeline

from .nodes import run_heatmaps


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                run_heatmaps,
                inputs=["normalize_report", "run_artifacts", "models", "params:heatmaps", "params:executor"],
                outputs=["heatmaps_report", "heatmaps_summary"],
                name="compute_heatmaps",
                tags="gpu",  # LPIPS (and the deep-feature kinds) run on the GPU when one is present
            ),
        ],
        tags="heatmaps",
    )
