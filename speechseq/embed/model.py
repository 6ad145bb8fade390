"""Segment embedders: a segment of speech in, one vector out, trained by one of two objectives.

``embed.objective: autoencoder`` — Audio Word2Vec, a sequence-to-sequence autoencoder:

The encoder is the shared :class:`~speechseq.core.encoder.Encoder`; its final states (the
forward direction's last frame and the backward direction's first) go through a linear
projection to the segment vector ``z: [N, dim]``. An LSTM decoder, fed ``z`` and the
relative position ``t / T`` at every step, reconstructs the (clean) feature sequence
``[N, T, C]``; the loss is the mean squared error over real frames. Because the decoder
sees nothing of the input but ``z``, everything it needs to rebuild the segment must be
in the vector. The denoising variant (DSA) corrupts the encoder's input (time/frequency
masks and Gaussian noise) and still reconstructs the clean segment. The "+same-word" variant
adds a supervised contrastive term on ctm word labels.

``embed.objective: contrastive`` — a discriminative acoustic word embedding (Kamper et al.
2016; Settle & Livescu 2016): the same encoder and projection, no decoder, trained only to put
spoken examples of one word close together and other words far apart, on batches that hold
several examples of each word by different speakers
(:class:`~speechseq.core.batching.GroupBatchSampler`). Two losses: ``nce`` (InfoNCE over the
batch, in its supervised form — :func:`same_word_loss`) and ``triplet`` (the cosine hinge of
Kamper et al. / Settle & Livescu with the hardest negative in the batch — :func:`triplet_loss`).
The dsa variant's corruption then serves as input augmentation. ``embed.text_weight > 0`` adds
the written view of multi-view training (He et al. 2017): a letter BiLSTM
(:class:`WordTextEncoder`) embeds each batch word's spelling in the same space, and InfoNCE in
both directions (each spoken example against the batch's written words, each written word
against the batch's spoken examples) pulls every example to its word's one written anchor,
which is the same point in every batch. Only the acoustic encoder is used after training. Both objectives give models
with the same ``embed(feats, lengths)`` contract, so embedding, indexing and search do not
know which objective trained them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from speechseq.core.config import sections_of
from speechseq.core.encoder import Encoder, EncoderConfig
from speechseq.core.task import Exportable, Task
from speechseq.core.trainer import TrainConfig
from speechseq.errors import UsageError
from speechseq.metrics.kws import same_different_ap
from speechseq.ranges import Check, check_fields, integer, number, one_of, setting


def _seconds_list(text: str) -> bool:
    values = [float(v) for v in text.split(",") if v.strip()]
    return bool(values) and all(0 < v < float("inf") for v in values)


@dataclass(frozen=True)
class EmbedOptions:
    # autoencoder (reconstruct the segment) | contrastive (same word close, other words far)
    objective: str = setting("autoencoder", one_of("autoencoder", "contrastive"))
    dim: int = setting(256, integer(ge=1))  # segment vector size
    # sa (autoencoder) | dsa (denoising: corrupted input, clean target)
    variant: str = setting("sa", one_of("sa", "dsa"))
    decoder_hidden: int = setting(256, integer(ge=1))  # decoder LSTM units
    noise_std: float = setting(0.3, number(ge=0))  # dsa: Gaussian noise on the normalised features
    # dsa: fraction of frames zeroed (in runs), and of feature bins
    mask_prob: float = setting(0.15, number(ge=0, lt=1))
    # > 0: the "same-word" variant: a supervised contrastive term pulls together
    # vectors of segments with the same word label (ctm segments only) and pushes others apart
    same_word_weight: float = setting(0.0, number(ge=0))
    # same-word variant and contrastive nce: softmax temperature over cosine similarities
    temperature: float = setting(0.1, number(gt=0))
    # contrastive objective: nce (supervised InfoNCE) | triplet (cosine hinge, hardest negative)
    contrastive_loss: str = setting("nce", one_of("nce", "triplet"))
    # contrastive triplet: margin, in cosine distance (1 - cos) / 2
    margin: float = setting(0.4, number(gt=0))
    # contrastive: examples of each word that go into a batch together (by different speakers)
    examples_per_word: int = setting(4, integer(ge=2))
    # training segments' start and end move outwards by up to this many seconds (inwards by up
    # to half) at each read (0: off): words cut as loosely as trimmed queries and windows cut them
    jitter_s: float = setting(0.0, number(ge=0))
    # contrastive: per training word segment, this many sliding windows of the training
    # utterances (widths window_s, every hop_s) that cover less than half of every ctm word
    # (pieces of words, two half words, silence) join the batches as negatives only: search
    # compares a query with such windows of the archive, which a word-only training never shows
    window_negatives: float = setting(0.0, number(ge=0))
    # ctm | vad | window: where training segments come from
    segments: str = setting("ctm", one_of("ctm", "vad", "window"))
    # training segments shorter than this are left out (and counted)
    min_dur_s: float = setting(0.15, number(ge=0))
    max_dur_s: float = setting(1.5, number(gt=0))  # ... and longer than this
    # window widths (seconds) for --segments window and for embedding audio
    window_s: str = setting(
        "0.3,0.5,0.7,0.9", Check(_seconds_list, "seconds > 0 separated by commas, e.g. 0.3,0.5")
    )
    hop_s: float = setting(0.05, number(gt=0))  # window hop (seconds)
    # contrastive: weight of the written view (He et al. 2017: InfoNCE between spoken examples
    # and a letter BiLSTM's vectors of their words' spellings); 0: off
    text_weight: float = setting(0.0, number(ge=0))

    def __post_init__(self):
        check_fields(self, "embed")
        if self.min_dur_s > self.max_dur_s:
            raise UsageError(
                f"embed.min_dur_s {self.min_dur_s} is above embed.max_dur_s {self.max_dur_s} — "
                f"no segment would be kept; lower min_dur_s or raise max_dur_s"
            )
        if self.objective == "contrastive" and self.same_word_weight > 0:
            raise UsageError(
                f"embed.same_word_weight {self.same_word_weight} adds a contrastive term to the "
                "autoencoder; with embed.objective contrastive the whole loss is contrastive — "
                "set same_word_weight to 0 (or use objective autoencoder)"
            )
        if self.window_negatives > 0 and self.objective != "contrastive":
            raise UsageError(
                f"embed.window_negatives {self.window_negatives}: negatives only take part in the "
                "contrastive objective — set embed.objective contrastive, or window_negatives 0"
            )
        if self.text_weight > 0 and self.objective != "contrastive":
            raise UsageError(
                f"embed.text_weight {self.text_weight}: the written view is a term of the "
                "contrastive objective — set embed.objective contrastive, or text_weight 0"
            )
        if self.objective == "contrastive" and self.segments != "ctm":
            raise UsageError(
                f"embed.objective contrastive needs word labels: use segments ctm, not {self.segments}"
            )


def variant_name(opts: EmbedOptions) -> str:
    """``sa``, ``dsa``, with the contrastive term ``sa+same-word`` / ``dsa+same-word``; the
    contrastive objective: ``contrastive-nce`` / ``contrastive-triplet`` (``+dsa-input`` when
    its input is corrupted as the dsa variant's)."""
    if opts.objective == "contrastive":
        return f"contrastive-{opts.contrastive_loss}" + (
            "+dsa-input" if opts.variant == "dsa" else ""
        )
    return opts.variant + ("+same-word" if opts.same_word_weight > 0 else "")


def _encoder_default() -> EncoderConfig:
    return EncoderConfig(
        subsample="none", rnn="gru", hidden=256, layers=2, bidirectional=True, dropout=0.1
    )


@dataclass(frozen=True)
class EmbedConfig:
    encoder: EncoderConfig = field(default_factory=_encoder_default)  # the shared encoder
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(max_epochs=20, max_frames=8000, lr=2e-3)
    )  # the shared trainer
    embed: EmbedOptions = field(default_factory=EmbedOptions)  # embedder choices


class WordTextEncoder(nn.Module):
    """The written view: a word's letters through a BiLSTM, its final states (the forward
    direction's last letter and the backward direction's first) projected to ``dim`` and
    L2-normalised. ``words``: the vocabulary (word id k is ``words[k]``); its spellings are kept
    as a buffer, rebuilt from the list (saved in final.pt's meta), not saved as weights."""

    def __init__(self, words: list[str], dim: int, hidden: int = 128, letter_dim: int = 64):
        super().__init__()
        letters = sorted({c for w in words for c in w})
        index = {c: k + 1 for k, c in enumerate(letters)}  # 0 pads
        longest = max((len(w) for w in words), default=1)
        ids = torch.zeros(len(words), max(longest, 1), dtype=torch.long)
        for k, w in enumerate(words):
            ids[k, : len(w)] = torch.tensor([index[c] for c in w], dtype=torch.long)
        lengths = torch.tensor([max(len(w), 1) for w in words], dtype=torch.long)
        self.register_buffer("spellings", ids, persistent=False)
        self.register_buffer("spelling_lengths", lengths, persistent=False)
        self.letters = nn.Embedding(len(letters) + 1, letter_dim, padding_idx=0)
        self.rnn = nn.LSTM(letter_dim, hidden, batch_first=True, bidirectional=True)
        self.project = nn.Linear(2 * hidden, dim)

    def forward(self, word_ids: torch.Tensor) -> torch.Tensor:
        """Word ids ``[M]`` -> L2-normalised vectors ``[M, dim]`` of their spellings."""
        lengths = self.spelling_lengths[word_ids]
        x = self.letters(self.spellings[word_ids][:, : int(lengths.max())])
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, (h, _) = self.rnn(packed)  # h: [2, M, hidden], the two directions' final states
        return nn.functional.normalize(self.project(torch.cat([h[0], h[1]], dim=-1)), dim=-1)


class SegmentEncoder(nn.Module):
    """The shared encoder, its final states, a linear projection: ``[N, T, C] -> [N, dim]``.
    The contrastive objective trains this alone (with ``words`` and ``embed.text_weight > 0``,
    beside a :class:`WordTextEncoder` of those words); the autoencoder adds a decoder."""

    def __init__(
        self,
        input_dim: int,
        enc: EncoderConfig,
        opts: EmbedOptions,
        words: list[str] | None = None,
    ):
        super().__init__()
        self.encoder = Encoder(input_dim, enc)
        self.project = nn.Linear(self.encoder.output_dim, opts.dim)
        self.text = WordTextEncoder(words, opts.dim) if words and opts.text_weight > 0 else None

    def embed(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``feats: [N, T, C]`` -> L2-normalised vectors ``[N, dim]``."""
        return nn.functional.normalize(self.code(feats, lengths), dim=-1)

    def code(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h, out_lengths = self.encoder(feats, lengths)
        return self.project(self.encoder.final_state(h, out_lengths))


class SegmentAutoencoder(SegmentEncoder):
    """A :class:`SegmentEncoder` with an LSTM decoder that rebuilds the segment from its vector."""

    def __init__(self, input_dim: int, enc: EncoderConfig, opts: EmbedOptions):
        super().__init__(input_dim, enc, opts)
        self.decoder = nn.LSTM(opts.dim + 1, opts.decoder_hidden, batch_first=True)
        self.output = nn.Linear(opts.decoder_hidden, input_dim)

    def reconstruct(self, z: torch.Tensor, lengths: torch.Tensor, max_len: int) -> torch.Tensor:
        """Decode ``z: [N, dim]`` into ``[N, max_len, C]``."""
        n = z.shape[0]
        pos = torch.arange(max_len, device=z.device, dtype=z.dtype)[None, :] / lengths.to(
            z.device, z.dtype
        )[:, None].clamp(min=1)
        inp = torch.cat([z[:, None, :].expand(n, max_len, z.shape[1]), pos[..., None]], dim=-1)
        y, _ = self.decoder(inp)
        return self.output(y)

    def forward(
        self, feats: torch.Tensor, lengths: torch.Tensor, target: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Reconstruction loss (MSE over real frames) of ``target`` (default: ``feats``) from ``feats``."""
        return reconstruction_loss(
            self.reconstruct(self.code(feats, lengths), lengths, feats.shape[1]),
            feats if target is None else target,
            lengths,
        )


class SegmentEmbedder(nn.Module):
    """The exported part of a :class:`SegmentEncoder`: ``(feats [N, T, C], lengths [N]) ->
    L2-normalised vectors [N, dim]``; an autoencoder's decoder stays behind."""

    def __init__(self, model: SegmentEncoder):
        super().__init__()
        self.model = model

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.model.embed(feats, lengths)


def reconstruction_loss(
    rec: torch.Tensor, target: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """Mean squared error over the real (unpadded) frames of ``[N, T, C]`` sequences."""
    mask = (
        torch.arange(target.shape[1], device=target.device)[None, :]
        < lengths.to(target.device)[:, None]
    ).unsqueeze(-1)
    return (((rec - target) ** 2) * mask).sum() / (mask.sum() * target.shape[2]).clamp(min=1)


NEGATIVE = -1  # the word id of a negative-only segment (no word: a window that is not one)


def same_label(labels: torch.Tensor) -> torch.Tensor:
    """``[N, N]``: whether two segments have one word; a :data:`NEGATIVE` segment has none,
    so it is no other segment's partner (not even another negative's), only a negative."""
    return (labels[:, None] == labels[None, :]) & (labels[:, None] != NEGATIVE)


def same_word_loss(z: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020) over a batch: ``z: [N, dim]``, ``labels: [N]``.

    For each segment with another of its word in the batch, the negative log of the softmax
    mass (over all other segments) that falls on its same-word partners. Zero if none has one.
    Segments labelled :data:`NEGATIVE` are never anchors or partners, only in the denominators.
    """
    z = nn.functional.normalize(z, dim=-1)
    n = z.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = (z @ z.T / temperature).masked_fill(eye, float("-inf"))
    pos = same_label(labels) & ~eye
    has = pos.any(dim=1)
    if not bool(has.any()):
        return z.sum() * 0.0
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    per = log_prob.masked_fill(~pos, 0.0).sum(dim=1) / pos.sum(dim=1).clamp(min=1)
    return -per[has].mean()


def triplet_loss(z: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Cosine-hinge triplet loss over a batch (Kamper et al. 2016; Settle & Livescu 2016):
    ``z: [N, dim]``, ``labels: [N]``.

    With the cosine distance ``d(a, b) = (1 - cos(a, b)) / 2``, every ordered same-word pair
    ``(a, p)`` is one triplet with the hardest negative ``n`` of its anchor in the batch (the
    other-word segment closest to ``a``): ``max(0, margin + d(a, p) - d(a, n))``, averaged over
    the pairs. Zero if no segment has a same-word partner, or no segment another word.
    A :data:`NEGATIVE` segment is never an anchor or a positive, only a negative.
    """
    z = nn.functional.normalize(z, dim=-1)
    n = z.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    dist = (1.0 - z @ z.T) / 2.0
    same = same_label(labels) | eye
    pos = same & ~eye
    if not bool(pos.any()) or bool(same.all()):
        return z.sum() * 0.0
    hardest_neg = dist.masked_fill(same, float("inf")).min(dim=1).values  # [N]
    hinge = (margin + dist - hardest_neg[:, None]).clamp(min=0.0)
    return hinge[pos].mean()


def text_view_loss(
    z: torch.Tensor, labels: torch.Tensor, text: WordTextEncoder, temperature: float
) -> torch.Tensor:
    """The written view's InfoNCE, both directions averaged (He et al. 2017, objectives 0 and 2
    in a softmax form): ``z: [N, dim]`` spoken examples with word ids ``labels: [N]``.

    The batch's words (each distinct id but :data:`NEGATIVE`) are embedded from their spellings;
    with cosine similarities over ``temperature``, each spoken example's loss is the cross
    entropy of its own word among the batch's written words, and each written word's is the
    negative log of the softmax mass (over every spoken example, negatives included) on its own
    examples. Zero when the batch has no word.
    """
    keep = labels != NEGATIVE
    words = torch.unique(labels[keep])  # sorted
    if words.numel() == 0:
        return z.sum() * 0.0
    t = text(words)
    sim = nn.functional.normalize(z, dim=-1) @ t.T / temperature  # [N, M]
    spoken = nn.functional.cross_entropy(sim[keep], torch.searchsorted(words, labels[keep]))
    own = labels[None, :] == words[:, None]  # [M, N]
    log_prob = torch.log_softmax(sim.T, dim=1)
    written = -(log_prob.masked_fill(~own, 0.0).sum(dim=1) / own.sum(dim=1)).mean()
    return (spoken + written) / 2


def corrupt(feats: torch.Tensor, lengths: torch.Tensor, opts: EmbedOptions) -> torch.Tensor:
    """DSA input: Gaussian noise, a run of masked frames and a band of masked bins per segment."""
    x = feats + opts.noise_std * torch.randn_like(feats)
    n, _, c = x.shape
    for k in range(n):
        t = int(lengths[k])
        w = int(opts.mask_prob * t)
        if w > 0:
            s = int(torch.randint(0, t - w + 1, (1,)))
            x[k, s : s + w] = 0.0
        f = int(opts.mask_prob * c)
        if f > 0:
            s = int(torch.randint(0, c - f + 1, (1,)))
            x[k, :, s : s + f] = 0.0
    return x


class EmbedTask(Task):
    """A segment embedder under the core task contract (see :mod:`speechseq.core.task`).

    Batches may carry a ``word`` field (one int per segment: the word label of ctm
    segments): the same-word term of the autoencoder and the contrastive objective use it,
    and a dev set that has it is scored by same-different AP (``sd_ap``). The contrastive
    objective picks its best epoch by that dev SD-AP; the autoencoder by the dev
    reconstruction loss.
    """

    name = "embed"
    data_fields = ("ctm",)
    metric_name = "loss"
    metric_mode = "min"

    def __init__(self, cfg: EmbedConfig, input_dim: int, words: list[str] | None = None):
        self.cfg, self.input_dim = cfg, input_dim
        # the word ids' spellings, for the written view (embed.text_weight > 0)
        self.words = list(words) if words and cfg.embed.text_weight > 0 else None
        if cfg.embed.text_weight > 0 and not self.words:
            raise UsageError(
                "embed.text_weight > 0 needs the training words' spellings (segments ctm)"
            )
        if cfg.embed.objective == "contrastive":
            self.metric_name, self.metric_mode = "sd_ap", "max"

    @property
    def contrastive(self) -> bool:
        return self.cfg.embed.objective == "contrastive"

    def build_model(self) -> SegmentEncoder:
        if self.contrastive:  # the written view (text_weight > 0) is a contrastive term only
            return SegmentEncoder(self.input_dim, self.cfg.encoder, self.cfg.embed, self.words)
        return SegmentAutoencoder(self.input_dim, self.cfg.encoder, self.cfg.embed)

    def meta(self) -> dict:
        meta = {"input_dim": self.input_dim, "dim": self.cfg.embed.dim, "cmvn": "none"}
        return meta | ({"words": self.words} if self.words else {})

    @classmethod
    def from_experiment(cls, exp: Path, config: dict, meta: dict) -> EmbedTask:
        cfg = sections_of(EmbedConfig, config, f"{exp}/config.yaml")
        return cls(cfg, int(meta["input_dim"]), meta.get("words"))

    def exportable(self, model: SegmentEncoder) -> Exportable:
        return Exportable(
            SegmentEmbedder(model),
            {"vectors": f"float32 [N, {self.cfg.embed.dim}]: one L2-normalised vector per segment"},
            {
                "normalisation": "each segment by its own statistics before the model: subtract "
                "the mean over its frames, divide by the standard deviation floored at 1e-3 "
                "(per feature bin)"
            },
        )

    def word_loss(self, z: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
        """The contrastive objective's loss of vectors ``z: [N, dim]`` with word ids ``[N]``."""
        opts = self.cfg.embed
        if opts.contrastive_loss == "triplet":
            return triplet_loss(z, words, opts.margin)
        return same_word_loss(z, words, opts.temperature)

    def loss(self, model, batch):
        feats, lengths = batch["feats"], batch["lengths"]
        opts = self.cfg.embed
        inp = corrupt(feats, lengths, opts) if opts.variant == "dsa" else feats
        if self.contrastive:
            if "word" not in batch:
                raise UsageError(
                    "the contrastive objective needs word labels in every batch (segments ctm)"
                )
            z = model.code(inp, lengths)
            loss = self.word_loss(z, batch["word"])
            parts = {opts.contrastive_loss: float(loss.detach())}
            text = getattr(model, "text", None)
            if text is not None:  # the written view
                tl = text_view_loss(z, batch["word"], text, opts.temperature)
                loss = loss + opts.text_weight * tl
                parts["text"] = float(tl.detach())
            return loss, parts
        if opts.same_word_weight <= 0 or "word" not in batch:
            return model(inp, lengths, target=feats), {}
        z = model.code(inp, lengths)
        mse = reconstruction_loss(model.reconstruct(z, lengths, feats.shape[1]), feats, lengths)
        same = same_word_loss(z, batch["word"], opts.temperature)
        return mse + opts.same_word_weight * same, {
            "mse": float(mse.detach()),
            "same_word": float(same.detach()),
        }

    def evaluate(self, model, batches) -> dict[str, float]:
        """Dev figures: the autoencoder's reconstruction loss; with word labels, the SD-AP of
        all dev segments' vectors, and for the contrastive objective its loss over all of them."""
        total, n, vecs, words = 0.0, 0, [], []
        for batch in batches:
            if not self.contrastive:
                total += float(model(batch["feats"], batch["lengths"])) * len(batch["utt_ids"])
            n += len(batch["utt_ids"])
            if "word" in batch:
                vecs.append(model.embed(batch["feats"], batch["lengths"]).float())
                words.append(batch["word"])
        out = {} if self.contrastive else {"loss": total / max(n, 1)}
        if vecs:
            z, w = torch.cat(vecs), torch.cat(words)
            if self.contrastive:
                out["loss"] = float(self.word_loss(z, w))
            out["sd_ap"] = dev_same_different_ap(z, w)
        elif self.contrastive:
            raise UsageError("the contrastive objective needs word labels on the dev set")
        return out


def dev_same_different_ap(z: torch.Tensor, words: torch.Tensor) -> float:
    """Same-different AP (Carlin et al. 2011) over every pair of vectors ``z: [N, dim]``
    (L2-normalised) with word ids ``[N]``; NaN when no two share a word."""
    i, j = torch.triu_indices(len(words), len(words), offset=1, device=z.device)
    scores = (z @ z.T)[i, j].cpu().numpy()
    same = (words[i] == words[j]).cpu().numpy()
    if not same.any():
        return float("nan")
    return same_different_ap(scores, same)
