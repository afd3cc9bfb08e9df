#!/usr/bin/env python3
"""Print the median of every criterion benchmark under target/criterion (after `cargo bench`)."""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
for estimates in sorted(root.glob("**/new/estimates.json")):
    name = "/".join(estimates.parent.parent.relative_to(root).parts)
    median_ns = json.loads(estimates.read_text())["median"]["point_estimate"]
    print(f"{name:50s} median {median_ns / 1e6:9.3f} ms")
