"""Time per spoken query: the embedding search (`speechseq search`) against segmental DTW on fbank.

    python benchmarks/qbe_speed.py --index IDX --queries DATA [--query-segmenter SEG]
                                   [--num 20] [--rounds 3] [--top-k 100] [--expand N]

Each of the first ``--num`` queries of the data dir ``DATA`` is searched alone, as a user's one
query is: ``speechseq search``'s code (:func:`speechseq.std.qbe.search_files`: the segmenter's cut
when given, the trim, the embedder, the index) timed from the audio in memory to the hits; then
DTW (:func:`speechseq.std.qbe.dtw_search_files`, the eval-std baseline) on the same queries, cut
the same way, over the index's whole archive (its MFCCs computed once, before the clock). The two
alternate round by round (A B A B ...); the medians of the rounds and their ratio are printed.
With ``--expand N`` the embedding search expands each query over its N nearest archive vectors
(``search --expand``: a second index search). Run it on an otherwise idle machine, one thread (``OMP_NUM_THREADS=1``): a ratio measured beside
another job says little.
"""

from __future__ import annotations

import argparse
import statistics
import time

from speechseq.data.audio import read_spec
from speechseq.data.kaldi_dir import DataDir
from speechseq.std.qbe import (
    archive_channel,
    archive_mfcc,
    dtw_search_files,
    embed_settings,
    query_cutter,
    search_files,
    warm_up,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", required=True, help="index dir (speechseq index build)")
    ap.add_argument("--queries", required=True, help="data dir of spoken queries")
    ap.add_argument(
        "--query-segmenter", default=None, help="train-segmenter dir (search --query-segmenter)"
    )
    ap.add_argument("--num", type=int, default=20, help="queries per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--top-k", type=int, default=100)
    ap.add_argument("--expand", type=int, default=0, help="search --expand N (0: plain search)")
    args = ap.parse_args()

    data = DataDir(args.queries)
    utts = data.utt_ids[: args.num]
    files = [data.audio_spec(u).entry for u in utts]  # search reads files, as the CLI does
    piped = [u for u, f in zip(utts, files, strict=True) if f.rstrip().endswith("|")]
    if piped:
        raise SystemExit(
            f"{args.queries}/wav.scp: query {piped[0]} is a command, not a file — give wav files"
        )
    cut = query_cutter(args.query_segmenter, "cpu") if args.query_segmenter else None
    audio = [read_spec(data.audio_spec(u), 16000, what=u) for u in utts]
    dtw_audio = [cut(x) for x in audio] if cut else audio  # DTW gets the same cut queries
    settings = embed_settings(args.index)
    t0 = time.perf_counter()
    docs = archive_mfcc(settings["audio"], archive_channel(settings))
    print(
        f"archive: {len(docs)} recordings, MFCC in {time.perf_counter() - t0:.1f} s (before the clock)"
    )
    warm_up(dtw=True)

    embed_ms, dtw_ms = [], []
    for r in range(args.rounds):
        per_query = []
        for f in files:  # one query at a time, as `speechseq search q.wav` runs
            _, s = search_files(
                args.index,
                [f],
                top_k=args.top_k,
                device="cpu",
                query_segmenter=args.query_segmenter,
                expand=args.expand,
            )
            per_query.append(s)
        embed_ms.append(1000 * statistics.mean(per_query))
        _, s = dtw_search_files(args.index, dtw_audio, top_k=args.top_k, docs=docs)
        dtw_ms.append(1000 * s)
        print(f"round {r + 1}: embed {embed_ms[-1]:.1f} ms/query, dtw {dtw_ms[-1]:.1f} ms/query")
    e, d = statistics.median(embed_ms), statistics.median(dtw_ms)
    print(f"{'method':<8} {'ms/query (median of rounds)':>28} {'queries':>8}")
    name = f"embed-qe{args.expand}" if args.expand else "embed"
    print(f"{name:<8} {e:>28.1f} {len(files):>8}")
    print(f"{'dtw':<8} {d:>28.1f} {len(files):>8}")
    print(f"embed search is {d / e:.0f}x faster per query than DTW on this archive")


if __name__ == "__main__":
    main()
