"""Example process task: reads its JSON arguments and prints a line per row."""

import json
import sys

args = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
for i in range(int(args.get("rows", 1))):
    print(f"transformed row {i + 1}")
