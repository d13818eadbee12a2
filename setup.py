"""Package discovery for the top-level sub-package folders.

`pyproject.toml` maps each top-level folder (envs/, agents/, ...) onto
`earlyexp.<folder>`; this file lists the packages below them so that a new
environment sub-package under envs/ ships without editing any list.
"""
from setuptools import find_packages, setup

PARTS = ("envs", "agents", "experience", "training")

packages = ["earlyexp", "earlyexp.configs"]
for part in PARTS:
    packages.append(f"earlyexp.{part}")
    packages += [f"earlyexp.{part}.{sub}" for sub in find_packages(part)]

setup(packages=packages)
