"""Part of `make demo`: checks that the round trip TF.js -> .h5 -> TF.js kept every weight
bit for bit, with modelport alone (no ML framework in the demo environment)."""

from __future__ import annotations

import sys

import numpy as np

import modelport


def main(original: str, round_tripped: str) -> int:
    with modelport.read(original) as a, modelport.read(round_tripped) as b:
        left = {w.name: w.read() for w in a.all_weights()}
        right = {w.name: w.read() for w in b.all_weights()}
    if left.keys() != right.keys():
        print(f"weight names differ: {sorted(left.keys() ^ right.keys())}")
        return 1
    different = [n for n in left if not np.array_equal(left[n], right[n])]
    if different:
        print(f"weights differ: {different}")
        return 1
    total = sum(v.nbytes for v in left.values())
    print(f"round trip kept all {len(left)} weights ({total:,} bytes) bit for bit")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
