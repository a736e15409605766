"""Write the demo's synthetic genome, peaks, background regions and planted motifs.

    .venv/bin/python demo/make_genome.py            # -> demo/data/
    .venv/bin/python demo/make_genome.py --out-dir /tmp/genome --seed 1
"""

import argparse
from pathlib import Path

from seqlift.demo import make_synthetic_genome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    paths = make_synthetic_genome(arguments.out_dir, seed=arguments.seed)
    for key, path in paths.items():
        print(f"{key}: {path}")


if __name__ == "__main__":
    main()
