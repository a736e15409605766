"""envs/seqlift.yaml must install what `pip install -e .` installs.

Conda cannot be installed here, so this is the honesty check: every runtime dependency of
pyproject.toml appears in the conda environment with the same version bounds, the environment
has nothing the package does not declare, and job scripts find seqlift itself in lib/.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
ENV_FILE = ROOT / "envs" / "seqlift.yaml"

# PyPI name -> conda-forge name, where they differ.
CONDA_NAMES = {"torch": "pytorch", "matplotlib": "matplotlib-base", "pybigwig": "pybigwig"}
# Present in the environment for conda's own sake, not package dependencies.
ENVIRONMENT_ONLY = {"python"}

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(.*?)\s*$")


def _split(requirement: str) -> tuple[str, str]:
    name, spec = _REQUIREMENT.match(requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def _pyproject_dependencies() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return dict(_split(requirement) for requirement in project["dependencies"])


def _environment() -> dict:
    return yaml.safe_load(ENV_FILE.read_text())


def _conda_dependencies() -> dict[str, str]:
    entries = [entry for entry in _environment()["dependencies"] if isinstance(entry, str)]
    parsed = {}
    for entry in entries:
        name, spec = _split(entry.replace("=", "==", 1) if re.match(r"^[^<>=!]+=[^=]", entry) else entry)
        parsed[name] = spec
    return parsed


def test_every_pip_dependency_is_in_the_conda_environment_with_the_same_bounds():
    conda = _conda_dependencies()
    for name, spec in _pyproject_dependencies().items():
        conda_name = CONDA_NAMES.get(name, name)
        assert conda_name in conda, f"{name} (conda: {conda_name}) is missing from {ENV_FILE}"
        assert conda[conda_name] == spec, f"{conda_name}: conda {conda[conda_name]!r} vs pip {spec!r}"


def test_the_conda_environment_declares_nothing_the_package_does_not():
    declared = {CONDA_NAMES.get(name, name) for name in _pyproject_dependencies()}
    extra = set(_conda_dependencies()) - declared - ENVIRONMENT_ONLY
    assert extra == set()


def test_the_environment_pins_python_3_11_and_needs_no_pip_section():
    assert _conda_dependencies()["python"] == "==3.11"
    assert [entry for entry in _environment()["dependencies"] if not isinstance(entry, str)] == []


def test_job_scripts_import_seqlift_from_the_repository_when_it_is_not_installed():
    """As in a conda job env: without site-packages (-S) seqlift is only found through lib/."""
    scripts = ROOT / "workflow" / "scripts"
    code = (
        "import importlib.util, sys\n"
        "assert importlib.util.find_spec('seqlift') is None\n"
        f"sys.path.insert(0, {str(scripts)!r})\n"
        "import _seqlift_path, seqlift\n"
        "print(seqlift.__file__)"
    )
    # Neither site-packages nor a PYTHONPATH (a developer's checkout on it) may supply seqlift.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == ROOT / "lib" / "seqlift" / "__init__.py"
    for script in scripts.glob("*.py"):
        if script.name != "_seqlift_path.py":
            text = script.read_text()
            assert text.index("import _seqlift_path") < text.index("from seqlift"), script.name


def test_every_rule_that_runs_a_script_uses_the_environment():
    rules = sorted((ROOT / "workflow" / "rules").glob("*.smk"))
    for path in rules:
        text = path.read_text()
        n_scripts = text.count("    script:")
        assert text.count('"../../envs/seqlift.yaml"') == n_scripts, path.name
