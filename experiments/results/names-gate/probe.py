"""Would the class names' view pass a gate "names label the gold rows better than a linear head
cross-validated on them"? Per data set and seed: the names' accuracy on the gold rows and the
cross-validated accuracy of the logistic regression the descriptions stage compares it with, in the
pretrained space (the default runs' cached embeddings). From the repository root:

    python experiments/results/names-gate/probe.py RUNS_ROOT   # RUNS_ROOT/{ag_news,sst2,banking77}-pseudolabel-seedN
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, "experiments"); sys.path.insert(0, ".")
from bench_accuracy import load_dataset, split  # noqa: E402

from pseudolabel.config import Config  # noqa: E402
from pseudolabel.teacher import cross_validated_accuracy  # noqa: E402
from pseudolabel.teacher.descriptions import DescriptionView, class_vectors, name_sentences  # noqa: E402
from pseudolabel.trainer import Encoder, bundled_minilm, make_accelerator  # noqa: E402

root = Path(sys.argv[1])
config = Config()
encoder = Encoder.from_config(bundled_minilm(), config, make_accelerator())
for name in ["ag_news", "sst2", "banking77"]:
    train, _, names = load_dataset(name, "../shared/datasets")
    sentences = name_sentences(names)
    vectors = class_vectors(encoder.embed(sentences), np.arange(len(names)), len(names))
    for seed in (0, 1, 2):
        labeled, _ = split(train, name, seed, None)
        y = labeled["label"].to_numpy()
        runs = sorted(root.glob(f"*/runs/{name}-pseudolabel-seed{seed}"))
        gold_x = np.load(runs[0] / "embeddings/pretrained-labeled.npy")
        names_acc = DescriptionView(vectors).fit(gold_x, y).gold_accuracy_
        linear = cross_validated_accuracy(gold_x, y, C=config.teacher.linear_c, seed=seed)
        print(f"{name} seed {seed}: names on gold {100 * names_acc:.1f}, linear cross-validated {100 * linear:.1f}"
              f" -> {'names join' if names_acc > linear else 'names out'}  ({sentences[:2]}...)", flush=True)
