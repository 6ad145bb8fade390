#!/usr/bin/env bash
# Connected digits on the synthetic espeak-ng corpus, Kaldi style:
#   ./run.sh [--stage N] [--stop-stage N] [--num-utts N] [--nj N]
# Stages skip finished work (a .done marker per stage); delete it, or pass --stage, to redo one.
#   0 synth corpus   1 validate   2 features   3 train CTC   4 decode test (greedy and beam)
set -euo pipefail
cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh

stage=0
stop_stage=100
num_utts=1500
seed=0
config=conf/ctc.yaml
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --num-utts) num_utts=$2; shift 2 ;;
    --nj) nj=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    *) echo "run.sh: unknown option $1 (use --stage --stop-stage --num-utts --nj --seed --config)" >&2; exit 2 ;;
  esac
done

# run_stage N NAME: true if stage N is selected and not already done (then marks it when the body succeeds).
run_stage() {
  local n=$1 name=$2
  [ "$n" -ge "$stage" ] && [ "$n" -le "$stop_stage" ] || return 1
  if [ -f "data/.done.$n" ]; then
    echo "stage $n ($name): done before, skipping (rm data/.done.$n to redo)"
    return 1
  fi
  echo "== stage $n: $name =="
}
done_stage() { mkdir -p data; touch "data/.done.$1"; }

if run_stage 0 "synthesise the digits corpus"; then
  speechseq synth digits data --num-utts "$num_utts" --seed "$seed" -j "$nj"
  done_stage 0
fi

if run_stage 1 "validate the data dirs"; then
  for s in train dev test; do speechseq data validate data/$s; done
  done_stage 1
fi

if run_stage 2 "compute fbank features"; then
  for s in train dev test; do speechseq compute-feats data/$s --type fbank --num-mel-bins 80 -j "$nj"; done
  done_stage 2
fi

if run_stage 3 "train a character CTC model"; then
  speechseq train-ctc data/train --dev data/dev --out exp/ctc --config "$config" --seed "$seed" --resume
  done_stage 3
fi

if run_stage 4 "decode the held-out test speakers"; then
  speechseq decode exp/ctc data/test --out exp/ctc/decode_test_greedy
  speechseq decode exp/ctc data/test --beam 10 --out exp/ctc/decode_test_beam10
  for d in exp/ctc/decode_test_*; do echo "$d: $(head -n1 $d/wer)"; done
  done_stage 4
fi
