# How jobs run: nj parallel parts, cmd=local|slurm, ngpu/nnodes for training, Slurm options.
# ../utils/parallel.sh says what each setting does and reads it from the environment
# (SPEECHSEQ_CMD, SPEECHSEQ_NGPU, ...) when it is not set here; set any of them here, before it.
export nj=2
. ../utils/parallel.sh
