#!/usr/bin/env bash
# LibriSpeech, Kaldi style, from a copy you already have (nothing is downloaded):
#   ./run.sh --corpus-dir /data/LibriSpeech [--train-set train-clean-100] [--stage N] [--nj N] ...
# --corpus-dir: the folder that holds LibriSpeech's subsets (LibriSpeech/dev-clean/SPK/CHAP/
# SPK-CHAP-NNNN.flac with SPK-CHAP.trans.txt), or the folder above it.
#   0 data dirs (speechseq data librispeech)   1 fbank features (run_parts: local or Slurm)
#   2 train BPE CTC   3 word 3-gram LM on the training transcripts   4 decode dev-clean, test-clean
# Expected for the full default run (train-clean-100 100.6 h + dev-clean 5.4 h + test-clean 5.4 h),
# scaled from what was measured on the 2-core development machine (no GPU; never run on LibriSpeech):
#   disk: the corpus's flac (6.3 + 0.3 + 0.3 GB as openslr.org/12 ships it) plus features:
#         111 h x 113.9 MB/h = 12.7 GB as float32, 3.3 GB with --compress (29.8 MB/h), 1.2 GB with
#         the training set on the fly (dev and test stored); exp/ under 1 GB (9.43 M parameters,
#         about 115 MB per checkpoint with the optimiser state, 3 step + the best/last epoch kept).
#         MB/h: benchmarks/feature_storage.py (80-dim fbank, 2026-12-04).
#   time: features 3-7 s of compute per hour of audio per job (wav; flac decoding adds about
#         1 s/h): minutes. Training conf/ctc_bpe.yaml on a CPU is impractical: one 20000-frame batch
#         took 65 s on 2 threads (3.0 s of audio per second; 30 epochs of 100.6 h would take about
#         40 days). On a GPU it is not measured here: time = 30 x 362,000 s of audio / the
#         throughput `python benchmarks/train_ctc.py --config conf/ctc_bpe.yaml --device cuda
#         --frames 1000:1600` prints (s audio/s); with SPEECHSEQ_NGPU=N about N times faster.
#   memory: training peaks at about 2.1 GB (CPU, fp32, one 15 x 13 s batch; max_frames 20000
#         bounds it whatever the corpus size); features, LM and decoding stay under 1 GB per job.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh

stage=0; stop_stage=100
corpus_dir=""  # required
train_set=train-clean-100; dev_set=dev-clean; test_sets="dev-clean test-clean"
config=conf/ctc_bpe.yaml; seed=0; beam=10
settings="corpus_dir train_set dev_set test_sets config seed beam"  # recorded in data/.done.N
stage_settings_0="corpus_dir train_set dev_set test_sets"; stage_settings_1=""
stage_settings_2="train_set dev_set config seed"; stage_settings_3="train_set"
stage_settings_4="dev_set test_sets beam"
. ../utils/stages.sh "$@"

# data/<subset with _ for ->: data/train_clean_100, data/dev_clean, ...
dir_of() { echo "data/${1//-/_}"; }
sets=$(printf '%s\n' "$train_set" "$dev_set" $test_sets | awk '!seen[$0]++')

if run_stage 0 "data dirs from the LibriSpeech tree"; then
  root=$(../utils/librispeech_root.sh "$corpus_dir" $sets)
  for s in $sets; do
    speechseq data librispeech "$root/$s" "$(dir_of "$s")"
    speechseq data validate "$(dir_of "$s")"
  done
  done_stage 0
fi

if run_stage 1 "fbank features"; then
  for s in $sets; do
    d=$(dir_of "$s")
    run_parts "$d" "feats_$(basename "$d")" speechseq compute-feats PART --type fbank --num-mel-bins 80
    speechseq compute-feats "$d" --from-parts "$parts_dir"
    rm -rf "$parts_dir"
  done
  done_stage 1
fi

if run_stage 2 "train a BPE CTC model"; then
  $train_cmd train-ctc "$(dir_of "$train_set")" --dev "$(dir_of "$dev_set")" --out exp/ctc_bpe \
    --units bpe --config "$config" --seed "$seed" $(resume_flag)
  done_stage 2
fi

if run_stage 3 "word 3-gram LM on the training transcripts"; then
  mkdir -p data/lm
  speechseq lm train "$(dir_of "$train_set")/text" --kaldi-text --order 3 --out data/lm/3gram.arpa
  done_stage 3
fi

if run_stage 4 "decode: greedy, and beam search with the 3-gram LM"; then
  for s in $test_sets; do
    d=$(dir_of "$s"); n=$(basename "$d")
    speechseq decode exp/ctc_bpe "$d" --out exp/ctc_bpe/decode_${n}_greedy
    speechseq decode exp/ctc_bpe "$d" --beam "$beam" --lm data/lm/3gram.arpa --out exp/ctc_bpe/decode_${n}_3gram
  done
  for w in exp/ctc_bpe/decode_*/wer; do echo "$(dirname "$w"): $(head -n1 "$w")"; done
  done_stage 4
fi
