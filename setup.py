"""Package discovery for setuptools (everything else lives in pyproject.toml).

The top-level folders ``plugins/`` and ``dashboard/`` install as ``waporta_plugins`` and
``waporta_dashboard`` (DESIGN.md "Installed names"); pyproject's static ``packages.find`` cannot
express that renaming together with discovery, so it is done here.
"""

from __future__ import annotations

from setuptools import find_packages, setup

RENAMED = {"plugins": "waporta_plugins", "dashboard": "waporta_dashboard"}

packages = find_packages(include=["waporta", "waporta.*", "waproto", "waproto.*"])
for folder, name in RENAMED.items():
    for found in find_packages(include=[folder, f"{folder}.*"]):
        packages.append(name + found[len(folder) :])

setup(packages=packages, package_dir={name: folder for folder, name in RENAMED.items()})
