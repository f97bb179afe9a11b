"""SequenceClassifier: padding never changes a text's result, for every cell, in both directions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmlab.classify.model import SequenceClassifier, collate, reverse_padded
from lstmlab.classify.vectors import coverage_text, init_embedding, read_vectors
from lstmlab.classify.config import POOLINGS, ClassifierConfig, ClassifyRunConfig, LabelledDataConfig
from lstmlab.config import CELLS, TrainConfig
from lstmlab.errors import LstmlabError


def model(cell: str, bidirectional: bool, pooling: str, packed: bool = False, seed: int = 0) -> SequenceClassifier:
    torch.manual_seed(seed)
    cfg = ClassifierConfig(vocab_size=40, classes=("a", "b", "c"), cell=cell, hidden_sizes=(7, 5), embed_dim=6,
                           bidirectional=bidirectional, pooling=pooling, packed=packed)
    return SequenceClassifier(cfg).eval()


def test_reverse_padded_reverses_each_sequence_within_its_length():
    x = torch.tensor([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8], [9, 0, 0, 0, 0]])
    lengths = torch.tensor([3, 5, 1])
    assert reverse_padded(x, lengths).tolist() == [[3, 2, 1, 0, 0], [8, 7, 6, 5, 4], [9, 0, 0, 0, 0]]
    assert torch.equal(reverse_padded(reverse_padded(x, lengths), lengths), x)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True], ids=["forward", "both-ways"])
def test_padding_around_a_text_never_changes_its_result(cell, bidirectional):
    text = np.array([5, 9, 3, 17, 2, 8])
    for pooling in POOLINGS:
        m = model(cell, bidirectional, pooling)
        alone = m.predict_proba(*collate([text]))
        # The same text in a batch with a longer one (so it is padded) and beside a shorter one.
        padded = m.predict_proba(*collate([np.array([4]), text, np.arange(2, 30)]))[1:2]
        assert torch.allclose(alone, padded, atol=1e-6), (pooling, alone, padded)
        features = m.features(*collate([text, np.arange(2, 25)]))
        assert torch.isfinite(features).all()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_packed_sequences_give_the_same_result(cell):
    batch = collate([np.array([5, 9, 3]), np.arange(2, 20), np.array([7])])
    for pooling in POOLINGS:
        plain = model(cell, True, pooling, packed=False, seed=1)
        packed = model(cell, True, pooling, packed=True, seed=1)
        assert torch.allclose(plain.predict_proba(*batch), packed.predict_proba(*batch), atol=1e-6)


def test_gradients_never_reach_padding_or_its_embedding():
    m = model("lstm", True, "max").train()
    ids, lengths = collate([np.array([5, 9, 3]), np.arange(2, 12)])
    m(ids, lengths).sum().backward()
    assert m.embedding.weight.grad[0].abs().sum() == 0  # PAD_ID's row


def test_word_vectors_from_a_glove_or_word2vec_text_file(tmp_path):
    glove = tmp_path / "glove.txt"
    glove.write_text("the 0.1 0.2 0.3\ngood 1 0 0\nfilm 0 1 0\nGreat 0 0 1\n")
    word2vec = tmp_path / "vectors.vec"
    word2vec.write_text("4 3\n" + glove.read_text())
    symbols = ["<pad>", "<unk>", "the", "good", "bad", "film"]
    for path in (glove, word2vec):
        vectors, hit = read_vectors(str(path), symbols, lowercase=True)
        assert vectors.shape == (6, 3) and hit.tolist() == [False, False, True, True, False, True]
        assert vectors[3].tolist() == [1, 0, 0]
    assert "found vectors for 3 of 4 vocabulary words (75.0%)" in coverage_text(hit)
    cfg = ClassifierConfig(vocab_size=6, classes=("a", "b"), embed_dim=3, embeddings=str(glove), freeze_embeddings=True)
    m = SequenceClassifier(cfg)
    init_embedding(m, vectors, hit)
    assert m.embedding.weight[3].tolist() == [1, 0, 0] and m.embedding.weight[0].abs().sum() == 0
    assert not m.embedding.weight.requires_grad
    bad = tmp_path / "bad.txt"
    bad.write_text("the 0.1 0.2\ngood 1 0 0\n")
    with pytest.raises(LstmlabError, match="line 2: 3 numbers where earlier lines have 2"):
        read_vectors(str(bad), symbols, lowercase=True)
    with pytest.raises(LstmlabError, match="--freeze-embeddings keeps a pretrained embedding: add --embeddings"):
        ClassifyRunConfig(data=LabelledDataConfig(), train=TrainConfig(),
                          model=ClassifierConfig(vocab_size=6, classes=("a", "b"), freeze_embeddings=True))


@pytest.mark.parametrize("cell", CELLS)
def test_weight_drop_drops_recurrent_weights_in_training_only(cell):
    torch.manual_seed(0)
    cfg = ClassifierConfig(vocab_size=40, classes=("a", "b"), cell=cell, hidden_sizes=(7,), embed_dim=6,
                           bidirectional=False, pooling="mean", dropout=0.0, word_dropout=0.0, weight_drop=0.5)
    dropping = SequenceClassifier(cfg)
    plain = SequenceClassifier(ClassifierConfig(**{**cfg.__dict__, "weight_drop": 0.0}))
    plain.load_state_dict(dropping.state_dict())
    batch = collate([np.array([5, 9, 3, 17]), np.arange(2, 14)])
    # Evaluation: the full weights, the same outputs as a model without weight drop.
    assert torch.equal(dropping.predict_proba(*batch), plain.predict_proba(*batch))
    # Training: one mask for the call; the dropped entries of the recurrent weight get no gradient.
    dropping.train()(*batch).sum().backward()
    layer = dropping.layers[0][0]
    grad = getattr(layer, layer.recurrent_weight_name).grad
    zero = (grad == 0).float().mean().item()
    assert 0.3 < zero < 0.7, zero
    plain.train()(*batch).sum().backward()
    plain_layer = plain.layers[0][0]
    assert (getattr(plain_layer, plain_layer.recurrent_weight_name).grad != 0).float().mean() > 0.9
