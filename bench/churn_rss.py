#!/usr/bin/env python3
"""churn_rss.py: memory of a server whose points keep getting new vectors.

Usage: bench/churn_rss.py PID [URL] [N] [DIM] [ROUNDS]

Creates collection "churn" (DIM, Euclid) on the Qdrant-compatible server at
URL (default http://127.0.0.1:6333) whose process id is PID, then upserts
the same N ids (default 20000) with new random vectors ROUNDS times
(default 4), waiting for the collection to turn green and 3 s more after
each round, and prints the process's resident memory (VmRSS) each time.
Only the last round's vectors are live, so a server that frees the memory
of replaced vectors levels off after the second round.
"""
import json
import random
import re
import sys
import time
import urllib.request

pid = int(sys.argv[1])
url = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:6333"
n = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
dim = int(sys.argv[4]) if len(sys.argv) > 4 else 768
rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 4


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    r = urllib.request.Request(url + path, method=method, data=data,
                               headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(r) as resp:
        return json.load(resp)


def rss_mib():
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) // 1024


call("PUT", "/collections/churn", {"vectors": {"size": dim, "distance": "Euclid"}})
rng = random.Random(1)
print(f"empty: RSS {rss_mib()} MiB", flush=True)
for r in range(rounds):
    for start in range(0, n, 500):
        pts = [{"id": i, "vector": [rng.random() for _ in range(dim)]}
               for i in range(start, min(n, start + 500))]
        call("PUT", "/collections/churn/points?wait=true", {"points": pts})
    t = time.time()
    while call("GET", "/collections/churn")["result"]["status"] != "green" and time.time() - t < 300:
        time.sleep(0.5)
    time.sleep(3)
    print(f"after round {r + 1} ({(r + 1) * n} upserts of the same {n} ids): RSS {rss_mib()} MiB", flush=True)
