# How jobs run.
#   nj: parallel jobs (data-dir parts; worker processes inside a command).
#   cmd: local (background jobs here) or slurm (sbatch --array; options in slurm_opts, e.g.
#        "--partition=cpu --time=1:00:00"); SPEECHSEQ_CMD=slurm in the environment chooses it too.
#        The archive's embedding runs so (embed_parts); training runs where run.sh runs.
export nj=2
export cmd=${SPEECHSEQ_CMD:-local}
export slurm_opts=${SPEECHSEQ_SLURM_OPTS:-}
. ../utils/parallel.sh
