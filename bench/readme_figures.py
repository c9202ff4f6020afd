#!/usr/bin/python3
"""Copy bench/results/latest.md's machine and figures into bench/README.md."""
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
latest = open(os.path.join(HERE, "results", "latest.md")).read()
body = latest.split("\n\n", 2)[2].strip()  # after the title and the introduction
text = ("From `bench/results/latest.md`, written by `make bench` on a 2-core virtual machine "
        "shared with other workloads (the load averages tell how "
        "busy it was):\n\n" + body + "\n")
path = os.path.join(HERE, "README.md")
readme = open(path).read()
readme = re.sub(r"(<!-- latest: begin [^>]*-->\n).*?(<!-- latest: end -->)",
                lambda m: m.group(1) + text + m.group(2), readme, flags=re.S)
open(path, "w").write(readme)
