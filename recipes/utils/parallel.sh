# Sourced by cmd.sh: run one speechseq command per part of a data dir, here or on Slurm.
#   run_parts DATA NAME COMMAND...
# splits DATA by speaker (speechseq data split DATA N, N = $nj or the number of speakers if
# fewer) into DATA/splitN/1..N, and runs COMMAND once per part with the word PART replaced by
# the part's directory and the word JOB by its number K (as in Kaldi's run.pl JOB=1:N), for an
# output of each part's own, e.g. --out exp/ctc/decode_test/part-JOB:
#   cmd=local (default): N background jobs on this machine;
#   cmd=slurm: one array job, sbatch --wait --array=1-N $slurm_opts (the tasks run in this
#              directory with this environment; SLURM_ARRAY_TASK_ID picks the part).
# Each part's output goes to exp/log/NAME/K.log. When a part fails, run_parts fails (exit 1)
# naming the part and its log; when all succeed it sets parts_dir=DATA/splitN for the merge,
# e.g.  speechseq compute-feats DATA --from-parts "$parts_dir"; rm -rf "$parts_dir"
#       speechseq decode EXP DATA --from-parts "$parts_dir" --out exp/ctc/decode_test
# decode_parts and embed_parts (below) are that for decoding and embedding, shared by the recipes.

run_parts() {
  local data=$1 name=$2 n k spk rc failed="" pids=()
  shift 2
  spk=$(wc -l < "$data/spk2utt")
  n=$(( nj < spk ? nj : spk ))
  speechseq data split "$data" "$n" > /dev/null
  parts_dir=$data/split$n
  local logdir=exp/log/$name
  rm -rf "$logdir"
  mkdir -p "$logdir"
  case "${cmd-local}" in
    local)
      for k in $(seq 1 "$n"); do
        # JOB first: the part's path may hold the letters JOB, its number never holds PART
        local args=("${@//JOB/$k}")
        ( set +e; "${args[@]//PART/$parts_dir/$k}" > "$logdir/$k.log" 2>&1; echo $? > "$logdir/$k.rc" ) &
        pids+=($!)
      done
      # by pid: a bare wait would also wait for the stage log's tee (a process substitution)
      wait "${pids[@]}"
      ;;
    slurm)
      local line
      line=$(printf '%q ' "$@")
      line=${line//JOB/\$SLURM_ARRAY_TASK_ID}
      {
        echo '#!/usr/bin/env bash'
        echo "# $name: one part of $data per array task (written by recipes/utils/parallel.sh)"
        printf 'cd %q\n' "$PWD"
        printf 'part=%q/$SLURM_ARRAY_TASK_ID\n' "$parts_dir"
        echo "${line//PART/\"\$part\"}"
        printf 'rc=$?; echo $rc > %q/$SLURM_ARRAY_TASK_ID.rc; exit $rc\n' "$logdir"
      } > "$logdir/job.sh"
      echo "run_parts: sbatch --wait --array=1-$n ${slurm_opts-} $logdir/job.sh"
      # shellcheck disable=SC2086  # slurm_opts: several options
      sbatch --wait --array=1-"$n" --job-name="$name" --output="$logdir/%a.log" \
        ${slurm_opts-} "$logdir/job.sh" || true  # the parts' exit codes say what failed
      ;;
    *)
      echo "run_parts: cmd=${cmd} — set cmd=local or cmd=slurm in cmd.sh (or SPEECHSEQ_CMD)" >&2
      return 2
      ;;
  esac
  for k in $(seq 1 "$n"); do
    rc=$(cat "$logdir/$k.rc" 2>/dev/null || echo "no exit code: the job did not finish")
    if [ "$rc" != 0 ]; then
      echo "run_parts: part $k of $data failed ($rc) — see $logdir/$k.log" >&2
      failed="$failed $k"
    fi
  done
  [ -z "$failed" ]
}

# decode_parts EXP DATA OUT [DECODE OPTIONS]: one decode job per part of DATA (run_parts: $cmd
# local or slurm), each into OUT/part-K, then the parts scored as one decode dir OUT (the files
# of one decode of DATA; speechseq decode --from-parts) and the split removed
decode_parts() { merged_parts decode "$@"; }

# embed_parts EXP DATA OUT [EMBED OPTIONS]: one embed job per part of DATA, each into OUT/part-K,
# then the parts written as one embed dir OUT (the vectors and segment table of one embed of
# DATA, so the index built over OUT is the same; speechseq embed --from-parts) and the split removed
embed_parts() { merged_parts embed "$@"; }

# merged_parts COMMAND EXP DATA OUT [OPTIONS]: speechseq COMMAND EXP PART ... --out OUT/part-JOB
# per part, then speechseq COMMAND EXP DATA --from-parts SPLIT --out OUT
merged_parts() {
  local command=$1 exp=$2 data=$3 out=$4
  shift 4
  run_parts "$data" "$(basename "$out")" speechseq "$command" "$exp" PART "$@" --out "$out/part-JOB"
  speechseq "$command" "$exp" "$data" --from-parts "$parts_dir" --out "$out"
  rm -rf "$parts_dir"
}
