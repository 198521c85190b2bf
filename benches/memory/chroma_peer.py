"""Chroma beside SKYNET's vector search (issue 18): the same seeded random
unit vectors (dimension 384), the same queries, k = 10, in process, with
Chroma's default HNSW settings.

Reads DIR/vectors.f32, DIR/queries.f32 (little-endian f32, row after row)
and DIR/truth.u32 (the exact top 10 of each query), all written by
`memory-scale vectors URL DIR`; prints build time, query latency p50/p99
and recall@10, with Chroma's default search breadth and then with each
of `CHROMA_EF` (comma-separated `ef_search` values), if set.

    CHROMA_EF=400,1600 python benches/memory/chroma_peer.py DIR
"""

import os
import sys
import tempfile
import time

import chromadb
import numpy as np

DIM = 384
K = 10


def load(d):
    vectors = np.fromfile(os.path.join(d, "vectors.f32"), dtype="<f4").reshape(-1, DIM)
    queries = np.fromfile(os.path.join(d, "queries.f32"), dtype="<f4").reshape(-1, DIM)
    truth = np.fromfile(os.path.join(d, "truth.u32"), dtype="<u4").reshape(-1, K)
    return vectors, queries, truth


def main():
    d = sys.argv[1]
    vectors, queries, truth = load(d)
    # A persistent client in a scratch directory: the in-memory client
    # keeps the same HNSW index; persistence only adds the write-ahead log.
    with tempfile.TemporaryDirectory() as scratch:
        client = chromadb.PersistentClient(path=scratch) if os.environ.get("CHROMA_PERSIST") else chromadb.EphemeralClient()
        col = client.create_collection("bench")  # default settings: l2, M 16, ef_construction 100, ef_search 100
        ids = [str(i) for i in range(len(vectors))]
        started = time.perf_counter()
        step = client.get_max_batch_size()
        for i in range(0, len(vectors), step):
            col.add(ids=ids[i : i + step], embeddings=vectors[i : i + step])
        build = time.perf_counter() - started
        print(f"chroma {chromadb.__version__}: stored {len(vectors)} vectors in {build:.1f} s "
              f"(load {' '.join(open('/proc/loadavg').read().split()[:3])})")
        timed(col, queries, truth, "default ef_search")
        # CHROMA_EF=400,1600: the same vectors and queries again, in a
        # collection of each search breadth, to compare at equal recall.
        # (Set at creation: `modify` did not change a built index's
        # breadth, recall and latency stayed the same.)
        for ef in filter(None, os.environ.get("CHROMA_EF", "").split(",")):
            col = client.create_collection(
                f"bench-ef{int(ef)}", configuration={"hnsw": {"ef_search": int(ef)}}
            )
            for i in range(0, len(vectors), step):
                col.add(ids=ids[i : i + step], embeddings=vectors[i : i + step])
            timed(col, queries, truth, f"ef_search {int(ef)}")


def timed(col, queries, truth, label):
    for q in queries[:50]:
        col.query(query_embeddings=[q], n_results=K, include=[])
    times = []
    hits = 0
    for j, q in enumerate(queries):
        t = time.perf_counter()
        r = col.query(query_embeddings=[q], n_results=K, include=["distances"])
        times.append(time.perf_counter() - t)
        got = {int(x) for x in r["ids"][0]}
        hits += len(got & set(int(x) for x in truth[j]))
    times.sort()
    p = lambda f: times[round((len(times) - 1) * f)] * 1e3
    print(f"chroma vector search (k={K}, {label}): {len(queries)} queries, p50 {p(0.5):.3f} ms, "
          f"p99 {p(0.99):.3f} ms, recall@10 {hits / (len(queries) * K):.4f} "
          f"(load {' '.join(open('/proc/loadavg').read().split()[:3])})")


if __name__ == "__main__":
    main()
