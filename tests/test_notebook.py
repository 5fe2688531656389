"""The walkthrough notebook runs from top to bottom and matches its generator."""

import nbformat
import pytest
from project_paths import PROJECT_ROOT


def test_notebook_is_up_to_date_with_its_generator():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_walkthrough", PROJECT_ROOT / "notebooks/make_walkthrough.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stored = nbformat.read(PROJECT_ROOT / "notebooks/walkthrough.ipynb", as_version=4)
    assert [cell.source for cell in stored.cells] == [cell.source for cell in module.CELLS]


@pytest.mark.slow
def test_notebook_executes(tmp_path):
    from nbclient import NotebookClient

    notebook = nbformat.read(PROJECT_ROOT / "notebooks/walkthrough.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(PROJECT_ROOT)}}
    ).execute()
    outputs = "".join(o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))
    assert "ok" in outputs and "pse_ycbcr_eroded__mouth_nose" in outputs
