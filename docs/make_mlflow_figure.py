"""docs/images/mlflow_compare.png: MLflow's compare view of two scoring variants.

    .venv/bin/python docs/make_mlflow_figure.py

Runs the scoring contract with labels on the embedded sample (the astronaut and its variants;
its photometric variants play "anomalous", as in the tests) into a temporary sqlite store,
starts ``mlflow ui`` on it, opens the compare page of two nested variant runs in headless
Chromium and saves the screenshot. Nothing but the public-domain sample is used.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
OUTPUT = PROJECT_ROOT / "docs" / "images" / "mlflow_compare.png"
VARIANTS = ("mirror.deep_base__lower_face__topk", "mirror.pse_ycbcr_eroded__mouth_nose")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _crop(source: Path, target: Path) -> None:
    """The page without MLflow's assistant side panel and the empty space below the tables."""
    from PIL import Image

    with Image.open(source) as image:
        width, height = image.size
        target.parent.mkdir(parents=True, exist_ok=True)
        image.crop((0, 0, int(width * 0.74), min(height, 1500))).convert("RGB").save(target, optimize=True)


def main() -> int:
    import pandas as pd

    from facial_anomaly.browser import HeadlessChromium
    from facial_anomaly.sample import write_embedded_sample

    work = Path(tempfile.mkdtemp(prefix="mlflow_figure_"))
    try:
        write_embedded_sample(work / "raw")
        images = [str(p.relative_to(work / "raw")) for p in sorted((work / "raw").rglob("*")) if p.is_file()]
        labels = pd.DataFrame({"image": images})
        labels["label"] = labels["image"].str.contains("bright|16bit|gray").astype(int)
        labels.to_csv(work / "labels.csv", index=False)
        store = f"sqlite:///{work / 'mlflow.db'}"
        params = f"input_dir={work / 'raw'},output_dir={work / 'out'},labels={work / 'labels.csv'},mlflow_tracking_uri={store}"
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        kedro = str(Path(sys.executable).with_name("kedro"))
        subprocess.run([kedro, "run", "--params", params], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)

        import mlflow

        mlflow.set_tracking_uri(store)
        runs = mlflow.search_runs(experiment_names=["facial_anomaly"])
        chosen = runs[runs["tags.mlflow.runName"].isin(VARIANTS)]
        ids = json.dumps(list(chosen["run_id"]))
        experiment = json.dumps([str(chosen["experiment_id"].iloc[0])])
        port = _free_port()
        mlflow_cli = str(Path(sys.executable).with_name("mlflow"))
        server = subprocess.Popen(
            [mlflow_cli, "ui", "--backend-store-uri", store, "--port", str(port), "--host", "127.0.0.1"],
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(120):
                try:
                    urllib.request.urlopen(base, timeout=1)
                    break
                except OSError:
                    time.sleep(0.5)
            url = f"{base}/#/compare-runs?runs={ids}&experiments={experiment}"
            with HeadlessChromium(window_px=(1300, 2600)) as browser:
                page = browser.open(url, settle_s=12.0)
                # Fold the plots away so the parameter and metric tables are in view.
                page.evaluate(
                    "for (const b of document.querySelectorAll('button, [role=button]'))"
                    " if ((b.innerText || '').trim() === 'Visualizations') b.click();"
                )
                time.sleep(2.0)
                raw = work / "page.png"
                page.screenshot(raw)
            _crop(raw, OUTPUT)
        finally:
            server.terminate()
            server.wait(timeout=30)
        print(f"wrote {OUTPUT}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
