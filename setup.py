"""Build configuration beyond pyproject.toml: the optional compiled MinHash kernel.

``optional=True``: where no C compiler is available the package installs without it and
``dataprep.dedup.minhash`` uses its numpy implementation (same results, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "dataprep.dedup._kernels",
            sources=["dataprep/dedup/_kernels.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
