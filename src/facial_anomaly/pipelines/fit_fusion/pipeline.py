"""``kedro run --pipelines fit_fusion --params "output_dir=<a scored run>,labels=<labels.csv>"``:
fit the fused default score on a labelled scoring run; later runs of the contract use it as
``anomaly_score`` (see docs/detection.md). Rerun it alone whenever the labelled run changes."""

from kedro.pipeline import Node, Pipeline

from .nodes import fit_score_fusion_node


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                fit_score_fusion_node,
                inputs=["scores", "labels", "params:fit_fusion"],
                outputs=["score_fusion", "fit_fusion_summary"],
                name="fit_score_fusion",
            )
        ],
        tags="fit_fusion",
    )
