"""Train the demo CNN on demo/data/ (CPU, 2 threads) and save its state_dict and metrics.

    .venv/bin/python demo/train_model.py            # -> demo/model.pt, demo/model_metrics.json
"""

import argparse
import json
from pathlib import Path

from seqlift.demo import train_demo_model, write_metrics

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=HERE / "data")
    parser.add_argument("--out", type=Path, default=HERE / "model.pt")
    parser.add_argument("--metrics", type=Path, default=HERE / "model_metrics.json")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    metrics = train_demo_model(arguments.data_dir, arguments.out, seed=arguments.seed)
    write_metrics(metrics, arguments.metrics)
    print(json.dumps(metrics, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
