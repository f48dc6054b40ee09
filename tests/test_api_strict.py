"""The Python API is as strict as the CLI: a wrong type is a TypeError naming the argument, a bad
value a ValueError, both seqvec's own errors, before any work (issue 24, ask 6)."""
import pytest

from seqvec.embeddings.encoders import onehot_encoder
from seqvec.embeddings.h5 import read_h5
from seqvec.embeddings.pipeline import embed_fasta
from seqvec.embeddings.store import open_embeddings
from seqvec.errors import ArgumentTypeError, DeviceError, EmbedOptionError, SeqVecError
from seqvec.lm.pretrained import load_model


@pytest.mark.parametrize("bad", ["MKL", None, b"MKL", 3, ["MKL", None], ("MK", b"L")])
@pytest.mark.parametrize("encoder", ["lm", "onehot"])
def test_embed_batch_wants_a_list_of_str(tiny_model, encoder, bad):
    model = tiny_model if encoder == "lm" else onehot_encoder()
    with pytest.raises(ArgumentTypeError, match="sequences") as info:
        model.embed_batch(bad)
    assert isinstance(info.value, TypeError) and info.value.argument == "sequences"


def test_embed_batch_of_one_str_is_not_three_proteins(tiny_model):
    with pytest.raises(TypeError, match=r"one str \('MKL'\); wrap it in a list"):
        tiny_model.embed_batch("MKL")
    assert len(tiny_model.embed_batch(("MKL",))) == 1  # a tuple is a list of sequences


@pytest.mark.parametrize("bad", [["MKL"], None, b"MKL", 7])
def test_embed_wants_one_str(tiny_model, bad):
    for model in (tiny_model, onehot_encoder()):
        with pytest.raises(ArgumentTypeError, match="sequence must be one protein sequence"):
            model.embed(bad)
    with pytest.raises(ArgumentTypeError):
        tiny_model.embed_with_state(bad, None)


@pytest.mark.parametrize("device,error", [("gpu", DeviceError), ("cuda:x", DeviceError), (3, ArgumentTypeError),
                                          ("cuda:99", DeviceError)])
def test_load_model_device(tiny_model_dir, device, error):
    with pytest.raises(error):
        load_model(tiny_model_dir, device=device)


@pytest.mark.parametrize("bad", [b"model", 3, ""])
def test_load_model_name(bad):
    with pytest.raises(ArgumentTypeError, match="name_or_path"):
        load_model(bad)


def test_read_h5_arguments(tmp_path, tiny_model, short_fasta):
    out = embed_fasta(short_fasta, tmp_path / "e.h5", encoder="onehot")
    first = next(iter(read_h5(out, "per_protein")))
    with pytest.raises(ArgumentTypeError, match="path"):
        read_h5(None)
    with pytest.raises(ArgumentTypeError, match="ids must be a list of record ids"):
        read_h5(out, "per_protein", ids=first)  # one id, not its letters
    with pytest.raises(SeqVecError, match="view 'per_token' is not one of"):
        read_h5(out, "per_token")
    assert list(read_h5(out, "per_protein", ids=[first])) == [first]


@pytest.mark.parametrize("argument,kwargs", [
    ("fasta", {"fasta": None}), ("fasta", {"fasta": b"x.fa"}), ("output", {"output": None}),
    ("output", {"output": b"o.h5"}),
])
def test_embed_fasta_paths(tmp_path, short_fasta, argument, kwargs):
    call = {"fasta": short_fasta, "output": tmp_path / "o.h5", **kwargs}
    with pytest.raises(ArgumentTypeError, match=argument):
        embed_fasta(call["fasta"], call["output"], encoder="onehot")
    assert not (tmp_path / "o.h5").exists()


@pytest.mark.parametrize("option", [{"max_residues": 2**70}, {"max_residues": 1.5}, {"max_residues": True},
                                    {"id_field": 2**70}, {"per_protein": "yes"}])
def test_embed_fasta_numbers(tmp_path, short_fasta, option):
    with pytest.raises(EmbedOptionError):
        embed_fasta(short_fasta, tmp_path / "o.h5", encoder="onehot", **option)
    assert list(tmp_path.iterdir()) == []


def test_embed_fasta_never_over_its_input(tmp_path, short_fasta):
    link = tmp_path / "in.h5"
    link.symlink_to(short_fasta)
    before = short_fasta.read_bytes()
    with pytest.raises(SeqVecError, match="input"):
        embed_fasta(link, link, encoder="onehot", overwrite=True)
    assert short_fasta.read_bytes() == before


@pytest.mark.parametrize("bad", [None, b"e.h5", 3, ""])
def test_open_embeddings_path(bad):
    with pytest.raises(ArgumentTypeError, match="path") as info:
        open_embeddings(bad)
    assert info.value.argument == "path"


def test_store_ids_are_a_list(tmp_path, short_fasta):
    out = embed_fasta(short_fasta, tmp_path / "e.h5", encoder="onehot")
    with open_embeddings(out) as store:
        first = store.ids[0]
        with pytest.raises(ArgumentTypeError, match="ids"):
            store.per_protein(first)  # one str, not its letters
        with pytest.raises(ArgumentTypeError, match=r"ids\[0\]"):
            store.per_protein([7])
        assert store.per_protein([first]).shape[0] == 1


def test_search_api_arguments(tmp_path, short_fasta):
    from seqvec.search.api import search_index, transfer_labels
    from seqvec.search.index import build_index
    from seqvec.search.neighbours import load_index

    emb = embed_fasta(short_fasta, tmp_path / "e.h5", encoder="onehot")
    for call, argument in [(lambda: build_index(None, tmp_path / "i.h5"), "embeddings"),
                           (lambda: build_index(emb, b"i.h5"), "output"),
                           (lambda: build_index(emb, tmp_path / "i.h5", {"kind": "exact"}), "settings"),
                           (lambda: load_index(b"i.h5"), "path"),
                           (lambda: search_index(emb, tmp_path / "i.h5", k="10"), "k"),
                           (lambda: search_index(emb, None), "index"),
                           (lambda: transfer_labels(emb, tmp_path / "i.h5", {"P1": "Nucleus"}), "labels")]:
        with pytest.raises(ArgumentTypeError) as info:
            call()
        assert info.value.argument == argument
    assert not (tmp_path / "i.h5").exists()
    index = load_index(build_index(emb, tmp_path / "i.h5"))
    with pytest.raises(ArgumentTypeError, match="query"):
        search_index(b"e.h5", index)
    assert len(search_index(emb, index, k=1)) == len(index.ids)
