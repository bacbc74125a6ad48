#!/usr/bin/python3
"""Benchmark hnswlib (Debian's python3-hnswlib) on a TEXMEX data set.

Prints the same JSON lines as cmd/hnswbench: one build line, then one line
per ef with recall@k and single-threaded QPS, then optional filtered runs.
Run with the system interpreter (/usr/bin/python3), where Debian installs
hnswlib: apt-get install -y python3-hnswlib python3-numpy.
"""
import argparse
import gzip
import json
import os
import resource
import sys
import time

import hnswlib
import numpy as np


def read_vecs(path, dtype, limit=0):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = np.frombuffer(f.read(), dtype=np.int32)
    dim = int(raw[0])
    rows = raw.reshape(-1, dim + 1)
    if limit:
        rows = rows[:limit]
    return np.ascontiguousarray(rows[:, 1:]).view(dtype)


def find(d, name):
    for p in (os.path.join(d, name), os.path.join(d, name + ".gz")):
        if os.path.exists(p):
            return p
    sys.exit(f"cannot find {name} in {d}")


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def recall(labels, truth, k):
    hit = 0
    for got, want in zip(labels, truth):
        hit += len(set(got.tolist()) & set(want[:k].tolist()))
    return hit / (len(truth) * k)


def exact_truth(base, queries, k, allowed):
    idx = np.nonzero(allowed)[0]
    sub = base[idx]
    sub_sq = (sub.astype(np.float64) ** 2).sum(1)
    out = []
    for q in queries:
        d = sub_sq - 2 * sub.astype(np.float64) @ q.astype(np.float64)
        top = np.argpartition(d, k)[:k]
        top = top[np.argsort(d[top], kind="stable")]
        out.append(idx[top])
    return np.array(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-data", default="/work/shared/data/fashion-mnist-784-euclidean")
    ap.add_argument("-m", type=int, default=16)
    ap.add_argument("-efc", type=int, default=200)
    ap.add_argument("-threads", type=int, default=2)
    ap.add_argument("-ef", default="10,20,40,80,120,200,400")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("-limit", type=int, default=0)
    ap.add_argument("-queries", type=int, default=0)
    ap.add_argument("-filter", default="")
    ap.add_argument("-filter-queries", type=int, default=200)
    ap.add_argument("-seed", type=int, default=100)
    a = ap.parse_args()

    queries = read_vecs(find(a.data, "query.fvecs"), np.float32, a.queries)
    rss0 = rss_bytes()
    base = read_vecs(find(a.data, "base.fvecs"), np.float32, a.limit)
    n, dim = base.shape
    if a.limit:
        truth = exact_truth(base, queries, a.k, np.ones(n, bool))
    else:
        truth = read_vecs(find(a.data, "groundtruth.ivecs"), np.int32, len(queries))
    print(f"loaded {n} base vectors of dim {dim}, {len(queries)} queries", file=sys.stderr)

    rss1 = rss_bytes()
    p = hnswlib.Index(space="l2", dim=dim)
    p.init_index(max_elements=n, ef_construction=a.efc, M=a.m, random_seed=a.seed)
    p.set_num_threads(a.threads)
    t0 = time.perf_counter()
    p.add_items(base, np.arange(n), num_threads=a.threads)
    build = time.perf_counter() - t0
    rss2 = rss_bytes()
    # hnswlib's own per-element layout on level 0: links (4 + 2M*4), the
    # vector (4*dim) and the label (8); upper levels come on top.
    element = 4 + 2 * a.m * 4 + 4 * dim + 8
    print(json.dumps({
        "engine": "hnswlib", "n": n, "dim": dim, "m": a.m, "ef_construct": a.efc,
        "threads": a.threads, "build_seconds": build,
        "bytes_per_point": element,
        "rss_bytes_per_point": (rss2 - rss1) / n,
        "version": getattr(hnswlib, "__version__", "0.6.x (Debian)"),
    }), flush=True)

    efs = [int(x) for x in a.ef.split(",")]
    p.set_num_threads(1)
    for ef in efs:
        p.set_ef(ef)
        t0 = time.perf_counter()
        labels, _ = p.knn_query(queries, k=a.k, num_threads=1)
        dt = time.perf_counter() - t0
        print(json.dumps({"ef": ef, "recall": recall(labels, truth, a.k),
                          "qps": len(queries) / dt, "queries": len(queries)}), flush=True)

    if a.filter:
        rng = np.random.default_rng(a.seed)
        fq = queries[: a.filter_queries]
        for sel in [float(x) for x in a.filter.split(",")]:
            allowed = rng.random(n) < sel
            ft = exact_truth(base, fq, a.k, allowed)
            allow = lambda label: bool(allowed[label])
            for ef in efs:
                p.set_ef(ef)
                t0 = time.perf_counter()
                labels, _ = p.knn_query(fq, k=a.k, num_threads=1, filter=allow)
                dt = time.perf_counter() - t0
                print(json.dumps({"ef": ef, "recall": recall(labels, ft, a.k), "qps": len(fq) / dt,
                                  "selectivity": sel, "queries": len(fq)}), flush=True)


if __name__ == "__main__":
    main()
