"""The README's Python API example on a data set that is not AG News: SST-2 sentiment.

Usage: ``python experiments/example_api.py [DATA_DIR] [OUTPUT_DIR]`` where DATA_DIR holds
``train.parquet`` and ``test.parquet`` with ``text`` and ``label`` columns (default
``../shared/datasets/sst2``). Columns are renamed and labels mapped to strings on purpose, to
show custom column names and string labels. 16 labeled sentences per class, a 2,000-sentence
pool (its gold labels dropped), 200 dev sentences from the training split, the GLUE dev set
as the test. The library's default recipe, plus two sentences per class saying what it means.
"""

import sys

import pandas as pd

from pseudolabel import SelfTrainer
from pseudolabel.sampling import sample_labels

data = sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets/sst2"
out = sys.argv[2] if len(sys.argv) > 2 else "runs/example_sst2"

names = {0: "negative", 1: "positive"}
train = pd.read_parquet(f"{data}/train.parquet")
train = pd.DataFrame({"review": train["text"], "sentiment": train["label"].map(names)})
test = pd.read_parquet(f"{data}/test.parquet")

labeled_rows, rest = sample_labels(train["sentiment"], per_class=16, seed=0, pool_size=2200)
labeled = train.iloc[labeled_rows]
pool = train.iloc[rest[:2000]].drop(columns="sentiment")
dev = train.iloc[rest[2000:]]

descriptions = {
    "negative": ["A negative movie review that says the film is bad, boring or disappointing."],
    "positive": ["A positive movie review that says the film is good, enjoyable or moving."],
}
st = SelfTrainer(output_dir=out, seed=0)  # the default recipe: 3 rounds, a curriculum to the whole pool
st.fit(labeled, pool, eval=dev, text_column="review", label_column="sentiment", label_descriptions=descriptions)

print(st.history_[["round", "n_pseudo_total", "n_selected", "eval_accuracy", "wall_seconds"]].to_string(index=False))
print("stopped:", st.termination_condition_, "| rounds:", st.n_rounds_, "| final round:", st.final_round_)
print(st.pseudo_labels_.head(3).to_string(index=False))
print(st.predict(["a gorgeous , witty , seductive movie .", "the plot is a mess and the acting is worse ."]))
print(st.predict_proba(["an utterly charming film ."]).round(3), list(st.classes_))
accuracy = (st.predict(test["text"].tolist()) == test["label"].map(names).to_numpy()).mean()
print(f"test accuracy (GLUE dev, {len(test)} sentences): {accuracy:.4f}")
