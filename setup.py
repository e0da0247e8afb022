"""Build configuration beyond pyproject.toml: the optional compiled kernels (MinHash signatures, JSONL line
scans).

``optional=True``: where no C compiler is available the package installs without it and
``dataprep.dedup.minhash`` and ``dataprep.io.readers`` use their numpy
implementations (same results, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "dataprep.dedup._kernels",
            sources=["dataprep/dedup/_kernels.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        Extension(
            "dataprep.io.readers.scan._scan",
            sources=["dataprep/io/readers/scan/_scan.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
    ]
)
