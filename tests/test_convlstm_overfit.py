"""A small convlstm head must be able to fit a few real MultiLoc proteins perfectly (issue 30).

The MultiLoc slice (tests/data/splits, real proteins) gives 4 proteins of each of 4 classes;
a model that cannot leave the uniform-attention plateau (all proteins get the class prior)
fails this check, as any defect in masking, the backward direction or the attention would.
"""
import numpy as np
import pytest
import torch
from Bio import SeqIO

from seqvec.classifiers.heads.registry import head_class
from seqvec.classifiers.labels.tasks import TaskSpec
from seqvec.classifiers.training.data import Example, TaskDataset
from seqvec.classifiers.training.train import FitConfig, fit, predict_dataset, seed_everything
from seqvec.embeddings.encoders import blosum62_encoder

pytestmark = pytest.mark.usefixtures("one_thread")
CLASSES = ("cytoplasmic", "extracellular", "mitochondrial", "nuclear")


@pytest.fixture(scope="module")
def proteins(data_dir):
    folder = data_dir / "splits"
    lines = (folder / "multiloc_slice_classes.tsv").read_text().split("\n")[1:]
    location = dict(line.split("\t") for line in lines if line)
    records = {r.id: str(r.seq) for r in SeqIO.parse(folder / "multiloc_slice.fasta", "fasta")}
    chosen = [rid for c in CLASSES for rid in sorted(r for r in records if location[r] == c)[:4]]
    encoder = blosum62_encoder()
    examples = [Example(rid, encoder.embed(records[rid])[0], {"localization": CLASSES.index(location[rid])})
                for rid in chosen]
    task = TaskSpec("localization", "protein", CLASSES, "Q4", "MultiLoc slice")
    return TaskDataset(examples, {"localization": task}, "residue")


def test_small_convlstm_fits_sixteen_multiloc_proteins(proteins):
    seed_everything(0)
    head = head_class("convlstm")(21, {"localization": len(CLASSES)}, n_filters=8, conv2_filters=16,
                                  lstm_hidden=16, attention_hidden=16, dense_hidden=16, input_dropout=0.0,
                                  dropout=0.0, max_length=200)
    result = fit(head, proteins, None, FitConfig(epochs=60, lr=3e-3, batch_size=8, max_residues=None, seed=0))
    probs = np.stack(predict_dataset(head, proteins)["localization"])
    truth = np.array([ex.targets["localization"] for ex in proteins.examples])
    assert result.history[-1]["train_loss"] < 0.1 * np.log(len(CLASSES))
    assert (probs.argmax(1) == truth).all()
    batch = proteins.collate(list(range(len(proteins))))
    with torch.no_grad():
        _, attention = head(batch.x, batch.mask, return_attention=True)
    lengths = torch.tensor([min(ex.length, 200) for ex in proteins.examples]).float()
    entropy = -(attention.clamp_min(1e-12).log() * attention).sum(1)
    assert float((entropy / lengths.log()).mean()) < 0.98  # it learned to look somewhere, not uniformly
