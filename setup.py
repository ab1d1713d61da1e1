"""The one compiled part: the import's line loop (docktally/collector/_scan.c).

Everything else is in pyproject.toml. The extension is optional: where it cannot be built, the
import runs the same loop in Python (slower; tests/test_import_fast.py says when it is missing).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "docktally.collector._scan",
            sources=["docktally/collector/_scan.c"],
            extra_compile_args=["-O3", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        )
    ]
)
