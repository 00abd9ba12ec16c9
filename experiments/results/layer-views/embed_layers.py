"""Mean-pooled embeddings of every layer of the pretrained MiniLM, for the train split of a data set.

One forward pass with hidden states; writes runs/layer-emb/DATASET.npz with ``layers``
(n_layers + 1, n, dim) float16 and the train rows' labels. From the repository root:

    python experiments/results/layer-views/embed_layers.py DATASET
"""
import sys, time
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, "experiments"); sys.path.insert(0, ".")
from bench_accuracy import load_dataset  # noqa: E402
from transformers import AutoModel, AutoTokenizer  # noqa: E402
from pseudolabel.trainer import bundled_minilm  # noqa: E402

name = sys.argv[1]
train, test, names = load_dataset(name, "../shared/datasets")
texts = train["text"].tolist() + test["text"].tolist()
src = bundled_minilm(); tok = AutoTokenizer.from_pretrained(src); model = AutoModel.from_pretrained(src).eval()
order = np.argsort([len(t) for t in texts]); out = None; t0 = time.time()
with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
    for i in range(0, len(texts), 128):
        idx = order[i:i + 128]
        b = tok([texts[j] for j in idx], padding=True, truncation=True, max_length=128, return_tensors="pt")
        hs = model(**b, output_hidden_states=True).hidden_states
        m = b["attention_mask"].unsqueeze(-1).float()
        pooled = torch.stack([(h.float() * m).sum(1) / m.sum(1) for h in hs])
        pooled = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        if out is None:
            out = np.zeros((pooled.shape[0], len(texts), pooled.shape[2]), dtype=np.float16)
        out[:, idx] = pooled
Path("runs/layer-emb").mkdir(parents=True, exist_ok=True)
np.savez(f"runs/layer-emb/{name}.npz", layers=out, n_train=len(train), y=np.concatenate([train["label"].to_numpy(), test["label"].to_numpy()]))
print(name, out.shape, f"{time.time() - t0:.0f}s")
