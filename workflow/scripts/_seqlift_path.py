"""Make `import seqlift` work in job environments that do not install it (--use-conda).

Snakemake puts the folder of a rule's script on sys.path, so the scripts import this module
first. When seqlift is installed (pip install -e .), nothing changes; otherwise the package's
source, two folders up in lib/, is put on sys.path.
"""

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("seqlift") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lib"))
