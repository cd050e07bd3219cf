"""setuptools' package list, beside pyproject.toml: every backprop_manual* package, plus the top-level data/ folder
installed as backprop_manual._data, so that the wheel and the sdist carry the data sets (pyproject.toml's
[tool.setuptools] cannot map a folder outside the package into it while also finding the packages).
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["backprop_manual*"]), "backprop_manual._data"],
    package_dir={"backprop_manual._data": "data"},
    package_data={"backprop_manual._data": ["*.csv", "README.md"]},
)
