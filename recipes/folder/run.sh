#!/usr/bin/env bash
# Any folder of audio files with transcripts, Kaldi style (nothing is downloaded):
#   ./run.sh --audio-dir /data/my_speech [--dev-dir DIR --test-dir DIR] [--feats stored|compressed|on-the-fly]
#            [--heldout-speakers 2] [--transcripts FILE.tsv] [--speaker-regex RE] [--stage N] [--nj N] ...
# --audio-dir: audio files (any format soundfile reads: wav, flac, ogg, mp3, ...) searched
# recursively, each with a same-name .txt or .lab transcript, or one --transcripts TSV
# (stem<TAB>text). The speaker is the parent folder's name, or group 1 of --speaker-regex on
# the file name (speechseq data from-folder). Without --dev-dir/--test-dir the last
# --heldout-speakers speakers (C order) of the folder are the test set and the ones before them
# the dev set: nobody in dev or test is heard in training.
# --feats: stored (float32 arks), compressed (Kaldi-compressed arks, about a quarter of the
# disk) or on-the-fly (the training set's features computed in the data-loader workers: no
# feature files for it; dev/test are still stored for decoding).
#   0 data dirs (speechseq data from-folder; held-out speakers)   1 validate, fbank features
#   2 train character CTC   3 decode dev and test (greedy, beam + character lexicon; one job per
#     part of each set, local or Slurm: decode_parts in ../utils/parallel.sh)
# Expected per 100 hours of audio (scaled from measurements on the 2-core development machine,
# no GPU; the recipe has run only on its test tree, recipes/folder/RESULTS):
#   disk: your audio plus features: 11.4 GB per 100 h as float32 (113.9 MB/h, 80-dim fbank),
#         3.0 GB with --feats compressed (29.8 MB/h), none for the training set with --feats
#         on-the-fly (benchmarks/feature_storage.py, 2026-12-04); exp/ under 1 GB (6.0 M parameters).
#   time: features 3-7 s of compute per hour of audio per job. Training conf/ctc.yaml on a CPU
#         runs at a few seconds of audio per second (the similar 9.4 M-parameter LibriSpeech
#         config: 3.0 s audio/s on 2 threads), i.e. weeks for 100 h x 30 epochs; on a GPU not
#         measured here: time = 30 x 360,000 s / what `python benchmarks/train_ctc.py --config
#         conf/ctc.yaml --device cuda` prints (s audio/s).
#   memory: training peaks at about 2 GB (max_frames 20000 bounds it; the LibriSpeech config
#         measured 2.1 GB on CPU); --feats on-the-fly adds the -j loader worker processes.
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh

stage=0; stop_stage=100
audio_dir=""  # required
dev_dir=""; test_dir=""; heldout_speakers=2; transcripts=""; speaker_regex=""
feats=stored; config=conf/ctc.yaml; seed=0; beam=10
settings="audio_dir dev_dir test_dir heldout_speakers transcripts speaker_regex feats config seed beam"
stage_settings_0="audio_dir dev_dir test_dir heldout_speakers transcripts speaker_regex"
stage_settings_1="feats"; stage_settings_2="feats config seed"; stage_settings_3="beam"
. ../utils/stages.sh "$@"

case "$feats" in
  stored|compressed|on-the-fly) ;;
  *) echo "$0: --feats $feats: use stored, compressed or on-the-fly" >&2; exit 2 ;;
esac
if [ -z "$audio_dir" ]; then
  echo "$0: --audio-dir DIR is required (the folder of audio files with transcripts)" >&2; exit 2
fi
if { [ -n "$dev_dir" ] && [ -z "$test_dir" ]; } || { [ -z "$dev_dir" ] && [ -n "$test_dir" ]; }; then
  echo "$0: give both --dev-dir and --test-dir, or neither (then speakers of --audio-dir are held out)" >&2; exit 2
fi

# from_folder DIR OUT: speechseq data from-folder with the recipe's transcript options
from_folder() {
  local opts=()
  [ -z "$transcripts" ] || opts+=(--transcripts "$transcripts")
  [ -z "$speaker_regex" ] || opts+=(--speaker-regex "$speaker_regex")
  speechseq data from-folder "$1" "$2" "${opts[@]}"
}

if run_stage 0 "data dirs from the audio folder"; then
  rm -rf data/all data/train data/dev data/test
  if [ -n "$dev_dir" ]; then
    from_folder "$audio_dir" data/train
    from_folder "$dev_dir" data/dev
    from_folder "$test_dir" data/test
  else
    from_folder "$audio_dir" data/all
    n=$(wc -l < data/all/spk2utt); k=$heldout_speakers
    if [ "$n" -le $((2 * k)) ]; then
      echo "error: $audio_dir: $n speaker(s), too few to hold out $k for dev and $k for test and train on the rest — give --dev-dir and --test-dir, --heldout-speakers 1, or --speaker-regex" >&2
      exit 1
    fi
    cut -d' ' -f1 data/all/spk2utt > data/all/speakers
    head -n $((n - 2 * k)) data/all/speakers > data/all/speakers.train
    head -n $((n - k)) data/all/speakers | tail -n "$k" > data/all/speakers.dev
    tail -n "$k" data/all/speakers > data/all/speakers.test
    for s in train dev test; do
      speechseq data subset data/all data/$s --speakers data/all/speakers.$s
    done
  fi
  done_stage 0
fi

if run_stage 1 "validate the data dirs, fbank features"; then
  compress=(); [ "$feats" = compressed ] && compress=(--compress)
  for s in train dev test; do
    speechseq data validate data/$s
    if [ "$s" = train ] && [ "$feats" = on-the-fly ]; then
      echo "data/train: features computed on the fly while training (--feats on-the-fly)"
      continue
    fi
    feats_parts data/$s --type fbank --num-mel-bins 80 "${compress[@]}"
  done
  du -sh data/*/feats 2>/dev/null || true
  done_stage 1
fi

if run_stage 2 "train a character CTC model"; then
  fly=(); [ "$feats" = on-the-fly ] && fly=(--on-the-fly-features -j "$nj")
  $train_cmd train-ctc data/train --dev data/dev --out exp/ctc --config "$config" --seed "$seed" \
    "${fly[@]}" $(resume_flag)
  done_stage 2
fi

if run_stage 3 "decode dev and test"; then
  ../utils/prepare_char_lexicon.sh data/train/text data/lang/lexicon.txt
  for s in dev test; do
    decode_parts exp/ctc data/$s exp/ctc/decode_${s}_greedy
    decode_parts exp/ctc data/$s exp/ctc/decode_${s}_lexicon --beam "$beam" --lexicon data/lang/lexicon.txt
  done
  for d in exp/ctc/decode_*; do echo "$d: $(head -n1 "$d/wer")"; done
  done_stage 3
fi
