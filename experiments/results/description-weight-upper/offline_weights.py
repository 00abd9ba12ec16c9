"""The descriptions' weight under the point-estimate rule and the Wilson-upper rule, per seed and round.

    python experiments/results/description-weight-upper/offline_weights.py ag_news ../shared/datasets

Embeds each seed's gold rows (the benchmark's split) and the data set's descriptions with the
pretrained encoder, as a run does, and prints the view's gold accuracy, its interval's top, the
linear head's cross-validated accuracy with each round's seed, and both weights. Seconds.
"""
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT), str(ROOT / "experiments")]
from accelerate import Accelerator  # noqa: E402
from bench_accuracy import descriptions_for, load_dataset, split  # noqa: E402

from pseudolabel.config import Config  # noqa: E402
from pseudolabel.loop import round_seed  # noqa: E402
from pseudolabel.teacher import cross_validated_accuracy  # noqa: E402
from pseudolabel.teacher.descriptions import DescriptionView, class_vectors, description_weight  # noqa: E402
from pseudolabel.trainer import Encoder, resolve_model  # noqa: E402

name, data = sys.argv[1], sys.argv[2]
train, test, names = load_dataset(name, data)
desc = descriptions_for(name, ROOT / "experiments" / "descriptions", names)
encoder = Encoder.from_config(resolve_model("minilm"), Config.from_dict({}), Accelerator(cpu=True))
sentences = [s for i in range(len(names)) for s in desc[i]]
owners = np.array([i for i in range(len(names)) for _ in desc[i]])
vectors = class_vectors(encoder.embed(sentences), owners, len(names))
for seed in (0, 1, 2):
    labeled, _ = split(train, name, seed, None, 10)
    x, y = encoder.embed(labeled["text"].tolist()), labeled["label"].to_numpy()
    view = DescriptionView(vectors).fit(x, y)
    chance = 1 / len(names)
    for r in range(3):
        linear = cross_validated_accuracy(x, y, C=10.0, seed=round_seed(seed, 20_000 + r))
        old = float(np.clip((view.gold_accuracy_ - chance) / max(linear - chance, 1e-6), 0, 1))
        new, upper = description_weight(view.gold_accuracy_, len(y), linear, len(names))
        print(name, seed, r, f"a_d={view.gold_accuracy_:.3f} upper={upper:.3f} a_l={linear:.3f} "
              f"point-estimate weight={old:.3f} upper weight={new:.3f}", flush=True)
