"""The unbalanced pools of ``probe.py``, cut from a seed's benchmark pool; ``../prior-shift/em_probe.py`` reads them too."""
import numpy as np
import pandas as pd

SHARES = {"ag_news": {0: 4000, 1: 2000, 2: 1200, 3: 800},  # World, Sports, Business, Sci/Tech
          "sst2": {0: 1600, 1: 6400}}  # negative, positive


def unbalanced_pool(pool: pd.DataFrame, name: str, seed: int) -> pd.DataFrame:
    """``SHARES[name]`` rows of each class of ``pool``, drawn with ``seed``, in the pool's order."""
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.choice(np.flatnonzero(pool["label"].to_numpy() == c), n, replace=False)
                           for c, n in SHARES[name].items()])
    return pool.iloc[np.sort(keep)].reset_index(drop=True)
