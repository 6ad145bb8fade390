#!/usr/bin/env bash
# LibriSpeech, Kaldi style, from a copy you already have (nothing is downloaded):
#   ./run.sh --corpus-dir /data/LibriSpeech [--train-set train-clean-100] [--stage N] [--nj N] ...
# --corpus-dir: the folder that holds LibriSpeech's subsets (LibriSpeech/dev-clean/SPK/CHAP/
# SPK-CHAP-NNNN.flac with SPK-CHAP.trans.txt), or the folder above it.
#   0 data dirs (speechseq data librispeech)   1 fbank features (run_parts: local or Slurm)
#   2 train BPE CTC   3 word 3-gram LM on the training transcripts   4 decode dev-clean, test-clean
#     (one job per part of each set: decode_parts)
#   spoken-term search over dev-clean (LibriSpeech has no word timings: the CTC model's forced
#   alignments give them):
#   5 align the training set and dev-clean with the CTC model (run_parts, align --from-parts)
#   6 train the segment embedder (conf/embed.yaml) on the training set's aligned words
#   7 embed dev-clean (sliding windows; embed_parts) and build its FAISS index
#   8 search it: --num-queries words of the training set (other speakers than dev-clean's), one
#     example each cut by its alignment, scored by eval-std against dev-clean's alignment
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
config=conf/ctc_bpe.yaml; seed=0; beam=10; embed_config=conf/embed.yaml; num_queries=20
settings="corpus_dir train_set dev_set test_sets config seed beam embed_config num_queries"  # recorded in data/.done.N
stage_settings_0="corpus_dir train_set dev_set test_sets"; stage_settings_1=""
stage_settings_2="train_set dev_set config seed"; stage_settings_3="train_set"
stage_settings_4="dev_set test_sets beam"; stage_settings_5="train_set dev_set"
stage_settings_6="embed_config seed"; stage_settings_7=""; stage_settings_8="num_queries"
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
    feats_parts "$(dir_of "$s")" --type fbank --num-mel-bins 80
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
    decode_parts exp/ctc_bpe "$d" exp/ctc_bpe/decode_${n}_greedy
    decode_parts exp/ctc_bpe "$d" exp/ctc_bpe/decode_${n}_3gram --beam "$beam" --lm data/lm/3gram.arpa
  done
  for w in exp/ctc_bpe/decode_*/wer; do echo "$(dirname "$w"): $(head -n1 "$w")"; done
  done_stage 4
fi

# --- spoken-term search over dev-clean ---
train_dir=$(dir_of "$train_set"); dev_dir=$(dir_of "$dev_set"); dev_name=$(basename "$dev_dir")
ali_of() { echo "exp/ctc_bpe/ali_$(basename "$1")/words.ctm"; }

if run_stage 5 "word timings: align the training set and $dev_set with the CTC model"; then
  for d in "$train_dir" "$dev_dir"; do align_parts exp/ctc_bpe "$d" "$(ali_of "$d")"; done
  cp "$(ali_of "$train_dir")" "$train_dir/ctm"  # train-embedder cuts the words by DATA/ctm
  done_stage 5
fi

if run_stage 6 "train the segment embedder on the training set's aligned words"; then
  $train_cmd train-embedder "$train_dir" --out exp/embedder --segments ctm --config "$embed_config" \
    --seed "$seed" $(resume_flag)
  done_stage 6
fi

if run_stage 7 "embed $dev_set (sliding windows) and build its index"; then
  embed_parts exp/embedder "$dev_dir" exp/embedder/vecs_$dev_name
  speechseq index build exp/embedder/vecs_$dev_name --out exp/embedder/index_$dev_name
  done_stage 7
fi

if run_stage 8 "search $dev_set: training-set words as spoken queries, scored by eval-std"; then
  # data/queries: up to $num_queries words of 4 letters or more and 0.3 s or longer that both
  # alignments hold, the first such example of each in the training set, cut from the training
  # recordings by a segments file (query ids <utt>-q<k>: the speaker stays the prefix)
  q=data/queries; rm -rf $q; mkdir -p $q
  awk -v n="$num_queries" -v q=$q '
    NR == FNR { if (length($5) >= 4) in_dev[$5] = 1; next }
    length($5) >= 4 && $4 >= 0.3 && ($5 in in_dev) && !($5 in seen) && k < n {
      seen[$5] = 1; k++; id = sprintf("%s-q%03d", $1, k)
      printf "%s %s %.2f %.2f\n", id, $1, $3, $3 + $4 > q "/segments"
      print id, $5 > q "/text"; print id, $1 > q "/reco"
    }' "$(ali_of "$dev_dir")" "$(ali_of "$train_dir")"
  if [ ! -s $q/text ]; then
    echo "error: no word of 4 letters or more and 0.3 s or longer is in both $(ali_of "$train_dir") and $(ali_of "$dev_dir") — nothing to search for; check the alignments (stage 5)" >&2
    exit 1
  fi
  awk 'NR == FNR { spk[$1] = $2; next } { print $1, spk[$2] }' "$train_dir/utt2spk" $q/reco > $q/utt2spk
  awk 'NR == FNR { use[$2] = 1; next } $1 in use' $q/reco "$train_dir/wav.scp" > $q/wav.scp
  rm $q/reco
  speechseq data fix --no-backup $q  # sorted, spk2utt
  speechseq data validate $q
  speechseq eval-std --index exp/embedder/index_$dev_name --queries $q --ref "$(ali_of "$dev_dir")" \
    --out exp/embedder/eval_std_$dev_name | tee exp/embedder/eval_std_$dev_name.txt
  done_stage 8
fi
