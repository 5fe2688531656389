"""``kedro run --pipelines report``: heatmap panels on one colour scale, heat on the original
photos of the highest- and lowest-scoring images, and ``08_reporting/report.html``."""

from kedro.pipeline import Node, Pipeline

from .nodes import draw_report_figures, plan_report, summarize_run, write_report


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                plan_report,
                inputs=["heatmaps_report", "preprocess_report", "preprocess_summary", "params:scores", "params:report"],
                outputs="gallery_plan",
                name="plan_report",
            ),
            Node(
                draw_report_figures,
                inputs=[
                    "gallery_plan",
                    "heatmaps_report",
                    "run_artifacts",
                    "params:heatmaps",
                    "params:report",
                    "params:executor",
                ],
                outputs=["report_thumbnails", "heatmap_gallery", "photo_overlays", "report_summary"],
                name="draw_report_figures",
            ),
            Node(
                summarize_run,
                inputs=[
                    "preprocess_summary",
                    "normalize_summary",
                    "heatmaps_summary",
                    "scores_summary",
                    "report_summary",
                ],
                outputs="run_summary",
                name="summarize_run",
            ),
            Node(
                write_report,
                inputs=[
                    "scores",
                    "report_thumbnails",
                    "variant_comparison",
                    "evaluation_plots",
                    "run_summary",
                    "params:report",
                ],
                outputs="report_html",
                name="write_report",
            ),
        ],
        tags="report",
    )
