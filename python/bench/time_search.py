"""Time a 12 x 100 lambda search (no refinement) through Python; compare with
`spikernn search MODEL --no-refine --no-save --json` (its "seconds").

    python python/bench/time_search.py MODEL.mat
"""

import sys
import time

import spikernn

t0 = time.perf_counter()
r = spikernn.grid_search(sys.argv[1], refine=False, save=False, scoring="strict", progress=False)
wall = time.perf_counter() - t0
print(f"python: 12 x 100 search in {wall:.2f} s wall ({r.seconds:.2f} s in Rust); "
      f"best lambda {r.best_lambda}, accuracy {r.best_accuracy:.3f}")
