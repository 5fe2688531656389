"""Decoded artifacts kept in memory between stages: served only for the very file that was
written, never beyond the budget, as private copies, and still checked against provenance."""

from __future__ import annotations

import numpy as np
import pytest

from facial_anomaly.batch.inputs import InputProblem, read_checked_npz, read_checked_png
from facial_anomaly.storage import memory
from facial_anomaly.storage.artifacts import ArtifactFolder, Provenance, encode_npz, encode_png


@pytest.fixture
def cache():
    memory.configure(4 * 2**20)
    yield memory
    memory.configure(0)


def _face(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (64, 48, 4), dtype=np.uint8)


def test_a_written_png_is_read_back_from_memory_as_a_private_copy(tmp_path, cache):
    folder = ArtifactFolder(str(tmp_path))
    face, provenance = _face(0), Provenance("preprocess", "a" * 40, "k", {"n": 1})
    folder.write("f.png", encode_png(face, provenance), decoded=(provenance, face))
    before = cache.stats()
    rgba, stored = read_checked_png(folder, "f.png", provenance, channels=4)
    rgb, _ = read_checked_png(folder, "f.png", provenance, channels=3)
    assert cache.stats()["hits"] == before["hits"] + 2
    assert np.array_equal(rgba, face) and np.array_equal(rgb, face[..., :3]) and stored == provenance
    rgba[:] = 0  # the reader's array is its own
    assert np.array_equal(read_checked_png(folder, "f.png", provenance, channels=4)[0], face)


def test_memory_answers_with_the_same_checks_as_the_file(tmp_path, cache):
    folder = ArtifactFolder(str(tmp_path))
    face, provenance = _face(1), Provenance("preprocess", "a" * 40, "k")
    folder.write("f.png", encode_png(face, provenance), decoded=(provenance, face))
    with pytest.raises(InputProblem) as problem:
        read_checked_png(folder, "f.png", Provenance("preprocess", "a" * 40, "other-key"), channels=4)
    assert problem.value.status == "stale_input"


def test_a_file_replaced_on_disk_is_read_from_disk(tmp_path, cache):
    folder = ArtifactFolder(str(tmp_path))
    provenance = Provenance("preprocess", "a" * 40, "k")
    folder.write("f.png", encode_png(_face(2), provenance), decoded=(provenance, _face(2)))
    # Another writer, same name; another size, so the file's identity differs even when the
    # file system's clock has not moved since the first write.
    replacement = np.random.default_rng(3).integers(0, 256, (64, 50, 4), dtype=np.uint8)
    (tmp_path / "f.png").write_bytes(encode_png(replacement, provenance))
    assert np.array_equal(read_checked_png(folder, "f.png", provenance, channels=4)[0], replacement)


def test_a_file_read_from_disk_is_kept_for_the_next_reader(tmp_path, cache):
    folder = ArtifactFolder(str(tmp_path))
    face, provenance = _face(4), Provenance("preprocess", "a" * 40, "k")
    (tmp_path / "f.png").write_bytes(encode_png(face, provenance))
    read_checked_png(folder, "f.png", provenance, channels=3)
    hits = cache.stats()["hits"]
    assert np.array_equal(read_checked_png(folder, "f.png", provenance, channels=4)[0], face)
    assert cache.stats()["hits"] == hits + 1


def test_heat_maps_are_served_from_memory_too(tmp_path, cache):
    folder = ArtifactFolder(str(tmp_path))
    heat, provenance = np.linspace(0, 5, 64 * 48, dtype=np.float32).reshape(64, 48), Provenance("heatmaps:s", "b", "k")
    folder.write("h.npz", encode_npz({"heat": heat}, provenance), decoded=(provenance, {"heat": heat}))
    hits = cache.stats()["hits"]
    arrays, _ = read_checked_npz(folder, "h.npz", provenance, ("heat",))
    assert cache.stats()["hits"] == hits + 1 and np.array_equal(arrays["heat"], heat)
    arrays["heat"][:] = -1
    assert np.array_equal(read_checked_npz(folder, "h.npz", provenance, ("heat",))[0]["heat"], heat)
    with pytest.raises(InputProblem) as problem:
        read_checked_npz(folder, "h.npz", provenance, ("sketch",))
    assert problem.value.status == "missing_input"


def test_nothing_is_kept_beyond_the_budget_or_when_off(tmp_path, cache):
    folder = ArtifactFolder(str(tmp_path))
    provenance = Provenance("preprocess", "a" * 40, "k")
    faces = [_face(seed) for seed in range(400)]  # 12 kB each: 4 MB hold 341 of them
    for index, face in enumerate(faces):
        folder.write(f"{index}.png", encode_png(face, provenance), decoded=(provenance, face))
    stats = cache.stats()
    assert stats["entries"] == 4 * 2**20 // faces[0].nbytes and stats["used"] <= stats["budget"]
    assert faces[-1].flags.writeable  # not kept, so left as the writer made it
    assert not faces[0].flags.writeable
    memory.configure(0)
    assert memory.stats()["entries"] == 0 and folder.memory_key("0.png") is None


def test_an_aligned_face_from_memory_equals_the_one_from_disk(tmp_path, cache):
    from facial_anomaly.batch.inputs import read_aligned_face
    from facial_anomaly.faces.landmarks import NUM_LANDMARKS

    folder = ArtifactFolder(str(tmp_path))
    record = {f"m{r}{c}": float(r == c) + 0.25 * c for r in range(2) for c in range(3)}
    record["landmarks"] = list(np.linspace(0, 60, NUM_LANDMARKS * 3))
    face, provenance = _face(5), Provenance("preprocess", "a" * 40, "k", record)
    folder.write("f.png", encode_png(face, provenance), decoded=(provenance, face))
    from_memory = read_aligned_face(folder, "f.png", provenance)
    memory.configure(0)
    from_disk = read_aligned_face(folder, "f.png", provenance)
    for field in ("rgb", "mask", "landmarks", "matrix"):
        assert np.array_equal(getattr(from_memory, field), getattr(from_disk, field)), field
    assert from_memory.rgb.flags.writeable and from_memory.mask.flags.writeable
