# Sourced by cmd.sh: how jobs run, and the functions that run them.
# Settings (each from the environment variable named when cmd.sh has not set it):
#   nj: parallel jobs (data-dir parts; worker processes inside a command).
#   cmd: local (background jobs here) or slurm (SPEECHSEQ_CMD). Parallel stages (features,
#        decoding, alignment, embedding: run_parts, decode_parts, embed_parts) become one
#        sbatch --array job over the data dir's parts, options in slurm_opts (SPEECHSEQ_SLURM_OPTS,
#        e.g. "--partition=cpu --time=1:00:00").
#   train_cmd: how a training stage starts: train_run (below), with ngpu processes per node
#        (SPEECHSEQ_NGPU, one per GPU) on nnodes nodes (SPEECHSEQ_NNODES); more than one process
#        runs torchrun, so the core's DistributedDataParallel does the work. With cmd=slurm it is
#        one sbatch --nodes=$nnodes job (slurm_train_opts, SPEECHSEQ_SLURM_TRAIN_OPTS, e.g.
#        "--partition=gpu --gres=gpu:4") that srun starts on every node (rendezvous port
#        rdzv_port, SPEECHSEQ_RDZV_PORT, 29500); with cmd=local and nnodes > 1, run run.sh on every
#        node with the same rdzv_endpoint (SPEECHSEQ_RDZV_ENDPOINT=HOST:PORT).
export nj=${nj:-2}
export cmd=${cmd:-${SPEECHSEQ_CMD:-local}}
export slurm_opts=${slurm_opts:-${SPEECHSEQ_SLURM_OPTS:-}}
ngpu=${ngpu:-${SPEECHSEQ_NGPU:-1}}
nnodes=${nnodes:-${SPEECHSEQ_NNODES:-1}}
rdzv_endpoint=${rdzv_endpoint:-${SPEECHSEQ_RDZV_ENDPOINT:-}}
rdzv_port=${rdzv_port:-${SPEECHSEQ_RDZV_PORT:-29500}}
slurm_train_opts=${slurm_train_opts:-${SPEECHSEQ_SLURM_TRAIN_OPTS:-}}
train_cmd=${train_cmd:-train_run}

# run_parts: run one speechseq command per part of a data dir, here or on Slurm.
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

# feats_parts DATA [COMPUTE-FEATS OPTIONS]: one compute-feats job per part of DATA, then the parts'
# features committed into DATA as one set, CMVN statistics included (compute-feats --from-parts),
# and the split removed
feats_parts() {
  local data=$1 name
  shift
  name=feats_$(echo "${data#data/}" | tr / _)
  run_parts "$data" "$name" speechseq compute-feats PART "$@"
  speechseq compute-feats "$data" --from-parts "$parts_dir"
  rm -rf "$parts_dir"
}

# decode_parts EXP DATA OUT [DECODE OPTIONS]: one decode job per part of DATA (run_parts: $cmd
# local or slurm), each into OUT/part-K, then the parts scored as one decode dir OUT (the files
# of one decode of DATA; speechseq decode --from-parts) and the split removed
decode_parts() { merged_parts decode "$@"; }

# embed_parts EXP DATA OUT [EMBED OPTIONS]: one embed job per part of DATA, each into OUT/part-K,
# then the parts written as one embed dir OUT (the vectors and segment table of one embed of
# DATA, so the index built over OUT is the same; speechseq embed --from-parts) and the split removed
embed_parts() { merged_parts embed "$@"; }

# align_parts EXP DATA CTM [ALIGN OPTIONS]: one align job per part of DATA, each into
# dirname(CTM)/part-K/, then the parts written as the one alignment CTM (and the files beside it:
# unit CTM, or a hybrid's phone CTM and .ali.ark; speechseq align --from-parts) and the split removed
align_parts() {
  local exp=$1 data=$2 ctm=$3
  shift 3
  local dir name
  dir=$(dirname "$ctm") name=$(basename "$ctm")
  run_parts "$data" "align_$(basename "$exp")_$(basename "$data")" speechseq align "$exp" PART "$@" --out "$dir/part-JOB/$name"
  speechseq align "$exp" "$data" --from-parts "$parts_dir" --out "$ctm"
  rm -rf "$parts_dir"
}

# merged_parts COMMAND EXP DATA OUT [OPTIONS]: speechseq COMMAND EXP PART ... --out OUT/part-JOB
# per part, then speechseq COMMAND EXP DATA --from-parts SPLIT --out OUT
merged_parts() {
  local command=$1 exp=$2 data=$3 out=$4
  shift 4
  run_parts "$data" "$(basename "$out")" speechseq "$command" "$exp" PART "$@" --out "$out/part-JOB"
  speechseq "$command" "$exp" "$data" --from-parts "$parts_dir" --out "$out"
  rm -rf "$parts_dir"
}

# train_run SUBCOMMAND ARGS...: a training command (train-ctc, train-embedder, train-st, ...) started
# as cmd.sh says, so that with more than one process the core's DistributedDataParallel does the work
# (each rank reads its own share of every epoch's batches; rank 0 writes the experiment dir):
#   ngpu   processes per node, one per GPU (on a CPU: gloo processes)     SPEECHSEQ_NGPU, default 1
#   nnodes nodes                                                          SPEECHSEQ_NNODES, default 1
#   cmd=local: on this machine. One process: speechseq itself; several on one node: torchrun
#       --standalone; several nodes: start run.sh on every node with the same rdzv_endpoint
#       (SPEECHSEQ_RDZV_ENDPOINT=HOST:PORT, HOST one of the nodes) and their torchruns meet there.
#   cmd=slurm: one job, sbatch --wait --nodes=$nnodes --ntasks-per-node=1 $slurm_train_opts (e.g.
#       "--partition=gpu --gres=gpu:4 --time=24:00:00", SPEECHSEQ_SLURM_TRAIN_OPTS), whose srun starts
#       one torchrun per node; they meet at the allocation's first node, port rdzv_port
#       (SPEECHSEQ_RDZV_PORT, default 29500). The job's output is exp/log/train_NAME/train.log
#       (NAME: the basename of --out), printed here when the job ends.
train_run() {
  local procs=${ngpu:-1} nodes=${nnodes:-1} name=train a prev="" launch=()
  for a in "$@"; do
    [ "$prev" = --out ] && name=train_$(basename "$a")
    prev=$a
  done
  local torchrun=(torchrun --nproc-per-node "$procs")
  case "${cmd-local}" in
    local)
      if [ "$nodes" -gt 1 ]; then
        if [ -z "${rdzv_endpoint-}" ]; then
          echo "train_run: nnodes=$nodes needs rdzv_endpoint=HOST:PORT (SPEECHSEQ_RDZV_ENDPOINT) with cmd=local, the same on every node — or cmd=slurm" >&2
          return 2
        fi
        launch=("${torchrun[@]}" --nnodes "$nodes" --rdzv-backend c10d --rdzv-endpoint "$rdzv_endpoint"
                --rdzv-id "speechseq-$name" -m speechseq.cli.main)
      elif [ "$procs" -gt 1 ]; then
        launch=("${torchrun[@]}" --standalone -m speechseq.cli.main)
      else
        launch=(speechseq)
      fi
      echo "train_run: ${launch[*]} $*"
      "${launch[@]}" "$@"
      ;;
    slurm)
      local logdir=exp/log/$name rc
      rm -rf "$logdir"
      mkdir -p "$logdir"
      {
        echo '#!/usr/bin/env bash'
        echo "# $name: one training job over $nodes node(s), $procs process(es) each (written by recipes/utils/parallel.sh)"
        printf 'cd %q\n' "$PWD"
        if [ "$nodes" -gt 1 ]; then
          echo 'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)'
          printf 'srun --ntasks="$SLURM_NNODES" --ntasks-per-node=1 %s --nnodes "$SLURM_NNODES" --rdzv-backend c10d --rdzv-endpoint "$head:%q" --rdzv-id "$SLURM_JOB_ID" -m speechseq.cli.main %s\n' \
            "$(printf '%q ' "${torchrun[@]}")" "${rdzv_port:-29500}" "$(printf '%q ' "$@")"
        elif [ "$procs" -gt 1 ]; then
          printf '%s --standalone -m speechseq.cli.main %s\n' "$(printf '%q ' "${torchrun[@]}")" "$(printf '%q ' "$@")"
        else
          printf 'speechseq %s\n' "$(printf '%q ' "$@")"
        fi
        printf 'rc=$?; echo $rc > %q/rc; exit $rc\n' "$logdir"
      } > "$logdir/job.sh"
      echo "train_run: sbatch --wait --nodes=$nodes --ntasks-per-node=1 ${slurm_train_opts-} $logdir/job.sh"
      # shellcheck disable=SC2086  # slurm_train_opts: several options
      sbatch --wait --nodes="$nodes" --ntasks-per-node=1 --job-name="$name" --output="$logdir/train.log" \
        ${slurm_train_opts-} "$logdir/job.sh" || true  # the job's exit code says what failed
      cat "$logdir/train.log" 2>/dev/null || true
      rc=$(cat "$logdir/rc" 2>/dev/null || echo "no exit code: the job did not finish")
      if [ "$rc" != 0 ]; then
        echo "train_run: the training job failed ($rc) — see $logdir/train.log" >&2
        return 1
      fi
      ;;
    *)
      echo "train_run: cmd=${cmd} — set cmd=local or cmd=slurm in cmd.sh (or SPEECHSEQ_CMD)" >&2
      return 2
      ;;
  esac
}
