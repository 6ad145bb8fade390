# How jobs run. speechseq parallelises inside each command (-j); on a cluster, wrap here.
export nj=2
