"""Query-by-example spoken-term search: a FAISS index store, hit merging (NMS), a DTW baseline."""
