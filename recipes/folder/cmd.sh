# How jobs run.
#   nj: parallel jobs (data-dir parts; worker processes inside a command).
#   cmd: local (background jobs here) or slurm (sbatch --array; options in slurm_opts, e.g.
#        "--partition=cpu --time=1:00:00"); SPEECHSEQ_CMD=slurm in the environment chooses it too.
#   train_cmd: how a training command starts: speechseq, or with ngpu > 1 torchrun with one
#        process per GPU (DistributedDataParallel), on the machine that runs run.sh.
export nj=2
export cmd=${SPEECHSEQ_CMD:-local}
export slurm_opts=${SPEECHSEQ_SLURM_OPTS:-}
ngpu=${SPEECHSEQ_NGPU:-1}
if [ "$ngpu" -gt 1 ]; then
  train_cmd="torchrun --nproc_per_node $ngpu -m speechseq.cli.main"
else
  train_cmd=speechseq
fi
. ../utils/parallel.sh
