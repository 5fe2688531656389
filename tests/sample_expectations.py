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
