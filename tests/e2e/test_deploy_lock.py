"""``requirements/lock.txt``: every install's versions, in step with pyproject.toml's ranges."""

from __future__ import annotations

import re
import tomllib

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from tests.fakes.gunicorn_process import ROOT

LOCK = ROOT / "requirements" / "lock.txt"
LOCK_INPUT = ROOT / "requirements" / "lock.in"
# Where the installs run: CPython 3.11 on Linux (CI, the Docker image, this machine).
ENVIRONMENT = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux"}
# "name==version", then "; marker" when the pin holds only on some platforms or Pythons.
_PIN = re.compile(r"^(?P<name>[\w.-]+)==(?P<version>[^\s;]+)(?:\s*;\s*(?P<marker>.+))?$")


def pins() -> dict[str, Version]:
    """The locked version of each package for :data:`ENVIRONMENT`."""
    found: dict[str, Version] = {}
    for line in LOCK.read_text().splitlines():
        match = _PIN.match(line.strip())
        if match is None:
            continue
        marker = match["marker"]
        if marker and not Marker(marker).evaluate(ENVIRONMENT):
            continue
        found[canonicalize_name(match["name"])] = Version(match["version"])
    return found


def declared() -> list[Requirement]:
    """pyproject.toml's dependencies, those of every extra, and requirements/lock.in's."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += extra
    lines += [
        line.strip()
        for line in LOCK_INPUT.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return [Requirement(line) for line in lines]


def test_every_declared_dependency_is_locked_within_its_range() -> None:
    locked = pins()
    missing = []
    outside = []
    for requirement in declared():
        if requirement.marker is not None and not requirement.marker.evaluate(ENVIRONMENT):
            continue
        version = locked.get(canonicalize_name(requirement.name))
        if version is None:
            missing.append(requirement.name)
        elif not requirement.specifier.contains(version, prereleases=True):
            outside.append(f"{requirement} (locked {version})")

    assert not missing, f"not in requirements/lock.txt, run `make lock`: {missing}"
    assert not outside, f"locked outside pyproject.toml's range, run `make lock`: {outside}"


def test_the_lock_takes_the_cpu_torch_release_and_pins_the_installer() -> None:
    locked = pins()

    assert locked["torch"] == Version("2.13.0")
    assert {"pip", "hatchling"} <= set(locked)
