"""The LSTM-HMM hybrid: lang dir, HMM topology and transition model, monophone GMM bootstrap,
graphs (L, G from ARPA or a grammar, HCLG with kaldifst), the frame-classifier task."""
