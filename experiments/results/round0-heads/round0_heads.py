"""Round-0 probe: does a mean-pooled classifier, its head warmed from a logistic regression on
the frozen sentence embeddings (LP-FT), clear the frozen floor where the standard
first-token head does not? Same gold rows, schedule and optimiser as the library's round 0.

Usage: python round0_heads.py DATASETS SEEDS VARIANTS [DATA_FOLDER], e.g.
``sst2,banking77 0,1,2 clsfloor,cls,mp-warm,mp-cold``. Variants: ``cls`` the native
first-token head (BertForSequenceClassification), ``mp-cold`` a mean-pooling head from nn.Linear's
random init, ``mp-warm`` the same head warmed from a logistic regression on the frozen
mean-pooled gold features, ``clsfloor`` logistic regressions on the frozen first-token state
and pooler output. Prints one JSON line per (dataset, seed, variant)."""
import sys, json, time
import numpy as np, torch
from sklearn.linear_model import LogisticRegression
from pathlib import Path
REPO = Path(__file__).resolve().parents[3]  # experiments/results/round0-heads/ -> the repository
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "experiments"))
DATA = sys.argv[4] if len(sys.argv) > 4 else str(REPO.parent / "shared" / "datasets")
from bench_accuracy import load_dataset, split
from pseudolabel.config import Config
from pseudolabel.trainer import (StepLoop, LengthGroupedBatches, make_accelerator, bundled_minilm, mean_pool,
                                 autocast, Encoder, tokenize)
from transformers import AutoModel, AutoTokenizer, AutoModelForSequenceClassification
from accelerate.utils import set_seed

cfg = Config()
src = bundled_minilm()
acc = make_accelerator()
tok = AutoTokenizer.from_pretrained(src)
enc = Encoder.from_config(src, cfg, acc)

class MeanPooled(torch.nn.Module):
    def __init__(self, k):
        super().__init__()
        self.body = AutoModel.from_pretrained(src, dtype=torch.float32)
        self.head = torch.nn.Linear(self.body.config.hidden_size, k)
    def forward(self, input_ids, attention_mask, **_):
        h = self.body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(mean_pool(h, attention_mask))

def collate(rows):
    b = tok.pad([{"input_ids": r["input_ids"]} for r in rows], return_tensors="pt")
    b["labels"] = torch.tensor([r["label"] for r in rows])
    return b

def logits_of(model, b, kind):
    if kind == "cls":
        return model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
    return model(b["input_ids"], b["attention_mask"])

def train(model, texts, labels, k, seed, kind):
    tc = cfg.train
    set_seed(seed)
    emb = model.get_input_embeddings() if kind == "cls" else model.body.get_input_embeddings()
    emb.weight.requires_grad_(False)
    ids = tokenize(tok, texts, cfg.model.max_length)
    feats = [{"input_ids": x, "label": int(y)} for x, y in zip(ids, labels)]
    total = tc.steps(len(ids), k)
    loop = StepLoop(model, acc, steps=total, learning_rate=tc.learning_rate, weight_decay=tc.weight_decay,
                    warmup_steps=int(tc.warmup_ratio * total), desc="r0", precision=tc.mixed_precision)
    batches = LengthGroupedBatches([len(x) for x in ids], tc.batch_size, seed)
    while loop.running:
        for gb in batches:
            b = collate([feats[i] for i in gb])
            with autocast(tc.mixed_precision, acc.device):
                lg = logits_of(loop.model, b, kind)
            loss = torch.nn.functional.cross_entropy(lg.float(), b["labels"], label_smoothing=tc.label_smoothing)
            loop.backward(loss)
            if not loop.step(loss.item()):
                break
    return loop.finish().eval()

@torch.inference_mode()
def predict(model, texts, kind):
    ids = tokenize(tok, texts, cfg.model.max_length)
    out = []
    for i in range(0, len(ids), 64):
        b = tok.pad([{"input_ids": x} for x in ids[i:i+64]], return_tensors="pt")
        with autocast(cfg.train.mixed_precision, acc.device):
            out.append(logits_of(model, b, kind).float().argmax(1).numpy())
    return np.concatenate(out)

def warm_head(head, X, y, k):
    lr = LogisticRegression(max_iter=2000).fit(X, y)
    W, b = lr.coef_, lr.intercept_
    if k == 2:
        W = np.stack([-W[0] / 2, W[0] / 2]); b = np.array([-b[0] / 2, b[0] / 2])
    with torch.no_grad():
        head.weight.copy_(torch.tensor(W, dtype=torch.float32)); head.bias.copy_(torch.tensor(b, dtype=torch.float32))
    return lr

variants = sys.argv[3].split(",")
for name in sys.argv[1].split(","):
    train_df, test, names = load_dataset(name, DATA)
    k = len(names)
    for seed in [int(s) for s in sys.argv[2].split(",")]:
        labeled, _ = split(train_df, name, seed, None)
        texts, y = labeled["text"].tolist(), labeled["label"].to_numpy()
        X = enc.embed(texts); Xt = enc.embed(test["text"].tolist())
        floor = LogisticRegression(max_iter=2000).fit(X, y).score(Xt, test["label"].to_numpy())
        if "clsfloor" in variants:
            base = AutoModel.from_pretrained(src, dtype=torch.float32).eval()
            def cls_feats(tx):
                ids = tokenize(tok, tx, cfg.model.max_length); out = []
                with torch.inference_mode():
                    for i in range(0, len(ids), 64):
                        b = tok.pad([{"input_ids": x} for x in ids[i:i+64]], return_tensors="pt")
                        o = base(**b)
                        out.append(torch.cat([o.last_hidden_state[:, 0], o.pooler_output], 1).numpy())
                return np.concatenate(out)
            F, Ft = cls_feats(texts), cls_feats(test["text"].tolist())
            d = base.config.hidden_size
            for nm, sl in [("cls_raw", slice(0, d)), ("pooler", slice(d, 2 * d))]:
                for norm in (False, True):
                    A, B = F[:, sl], Ft[:, sl]
                    if norm:
                        A = A / np.linalg.norm(A, axis=1, keepdims=True); B = B / np.linalg.norm(B, axis=1, keepdims=True)
                    a = LogisticRegression(max_iter=3000).fit(A, y).score(B, test["label"].to_numpy())
                    print(json.dumps({"dataset": name, "seed": seed, "variant": f"LR-{nm}{'-unit' if norm else ''}", "test": round(a * 100, 2), "floor": round(floor * 100, 2)}), flush=True)
        for v in variants:
            if v == "clsfloor":
                continue
            t0 = time.time()
            torch.manual_seed(seed)
            if v.startswith("mp"):
                model = MeanPooled(k)
                if v == "mp-warm":
                    warm_head(model.head, X, y, k)
                kind = "mp"
            else:
                model = AutoModelForSequenceClassification.from_pretrained(src, num_labels=k, dtype=torch.float32)
                kind = "cls"
            model = train(model, texts, y, k, seed, kind)
            acc_ = float(np.mean(predict(model, test["text"].tolist(), kind) == test["label"].to_numpy()))
            print(json.dumps({"dataset": name, "seed": seed, "variant": v, "test": round(acc_ * 100, 2),
                              "floor": round(floor * 100, 2), "sec": round(time.time() - t0)}), flush=True)
