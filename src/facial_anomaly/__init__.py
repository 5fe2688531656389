"""facial_anomaly: measure facial differences from ordinary photographs.

The science lives in plain, Kedro-free packages (``faces``, ``normalizers``, ``heatmaps``,
``scoring``, ``synthesis``, ``evaluation``) that a notebook can import; ``pipelines``
only wires them to the Kedro data catalog.
"""

__version__ = "0.1.0"
