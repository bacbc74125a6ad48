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
    ap.add_argument("-graph", default="", help="cache file: loaded if it exists, else saved after the build")
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
    build = build_cpu = 0.0
    loaded = bool(a.graph) and os.path.exists(a.graph)
    if loaded:
        p.load_index(a.graph, max_elements=n)
    else:
        p.init_index(max_elements=n, ef_construction=a.efc, M=a.m, random_seed=a.seed)
        p.set_num_threads(a.threads)
        t0, c0 = time.perf_counter(), time.process_time()
        p.add_items(base, np.arange(n), num_threads=a.threads)
        build, build_cpu = time.perf_counter() - t0, time.process_time() - c0
        if a.graph:
            p.save_index(a.graph)
    rss2 = rss_bytes()
    # hnswlib's own per-element layout on level 0: links (4 + 2M*4), the
    # vector (4*dim) and the label (8); upper levels come on top.
    element = 4 + 2 * a.m * 4 + 4 * dim + 8
    print(json.dumps({
        "engine": "hnswlib", "n": n, "dim": dim, "m": a.m, "ef_construct": a.efc,
        "threads": a.threads, "build_seconds": build, "build_cpu_seconds": build_cpu,
        "bytes_per_point": element,
        "rss_bytes_per_point": (rss2 - rss1) / n,
        "version": getattr(hnswlib, "__version__", "0.6.x (Debian)"), "loaded": loaded,
    }), flush=True)

    efs = [int(x) for x in a.ef.split(",")]
    p.set_num_threads(1)
    for ef in efs:
        p.set_ef(ef)
        # With num_threads=1 hnswlib searches in the calling thread, so the
        # thread's CPU time is the search's.
        t0, c0 = time.perf_counter(), time.thread_time()
        labels, _ = p.knn_query(queries, k=a.k, num_threads=1)
        dt, cpu = time.perf_counter() - t0, time.thread_time() - c0
        print(json.dumps({"ef": ef, "recall": recall(labels, truth, a.k),
                          "qps": len(queries) / dt, "cpu_qps": len(queries) / cpu,
                          "queries": len(queries)}), flush=True)

    if a.filter:
        try:
            p.knn_query(queries[:1], k=1, filter=lambda label: True)
        except TypeError:
            print("this hnswlib has no filter support (added in 0.7.0); skipping filtered runs", file=sys.stderr)
            return
        rng = np.random.default_rng(a.seed)
        fq = queries[: a.filter_queries]
        for sel in [float(x) for x in a.filter.split(",")]:
            allowed = rng.random(n) < sel
            ft = exact_truth(base, fq, a.k, allowed)
            allow = lambda label: bool(allowed[label])
            for ef in efs:
                p.set_ef(ef)
                t0, c0 = time.perf_counter(), time.thread_time()
                labels, _ = p.knn_query(fq, k=a.k, num_threads=1, filter=allow)
                dt, cpu = time.perf_counter() - t0, time.thread_time() - c0
                print(json.dumps({"ef": ef, "recall": recall(labels, ft, a.k), "qps": len(fq) / dt,
                                  "cpu_qps": len(fq) / cpu,
                                  "selectivity": sel, "queries": len(fq)}), flush=True)


if __name__ == "__main__":
    main()
