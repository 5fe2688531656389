"""What preprocess reports for each file of the embedded sample (plus the ``.gitkeep`` the
``sample_input`` fixture adds: every file gets a row, housekeeping files included)."""

EXPECTED_STATUS = {
    ".gitkeep": "unsupported_format",
    "demo_astronaut.png": "ok",
    "demo_astronaut_mirrored.jpg": "ok",
    "demo_astronaut_rolled.png": "ok",
    "demo_astronaut_bright.jpg": "ok",
    "demo_astronaut_gray.png": "ok",
    "demo_astronaut_16bit.png": "ok",
    "demo_astronaut_rgba.png": "ok",
    "demo_astronaut_exif_orientation.jpg": "ok",
    "sub folder/demo astronaut small.webp": "too_small",
    "rejected/demo_no_face_coffee.jpg": "no_face",
    "rejected/demo_truncated.jpg": "unreadable",
    "rejected/demo_tiny.png": "too_small",
    "rejected/demo_notes.txt": "unsupported_format",
}
OK_COUNT = sum(status == "ok" for status in EXPECTED_STATUS.values())

# anomaly_score of every ok file with the default settings (the mirror normalizer's
# deep_base__lower_face__topk), to 6 significant digits: the contract's outputs on the sample
# must not change unless a change of method says so (update these numbers in that commit).
EXPECTED_DEFAULT_SCORES = {
    "demo_astronaut.png": 1.06962,
    "demo_astronaut_16bit.png": 1.13052,
    "demo_astronaut_bright.jpg": 1.2011,
    "demo_astronaut_exif_orientation.jpg": 1.06971,
    "demo_astronaut_gray.png": 1.13052,
    "demo_astronaut_mirrored.jpg": 1.06945,
    "demo_astronaut_rgba.png": 1.06962,
    "demo_astronaut_rolled.png": 1.06562,
}
