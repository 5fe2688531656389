#!/usr/bin/env bash
# One command: install, then run the default pipeline (on the embedded demo sample when
# data/01_raw is empty). Extra arguments go to `kedro run`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup_env.sh
.venv/bin/kedro run "$@"
echo "Scores: data/scores.csv; the report: data/08_reporting/report.html; aligned faces, heatmaps and figures under data/02_intermediate … data/08_reporting."
echo "MLflow:  .venv/bin/mlflow ui --backend-store-uri sqlite:///mlflow.db"
