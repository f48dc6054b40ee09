"""The io layer's output policy (seqvec.io.output): inputs never overwritten, results only with
overwrite, atomic files and directories, locks that never follow symlinks, unwritable folders
named before any work."""
import errno
import os

import pytest

from seqvec.errors import OutputExistsError, OutputIsInputError, OutputLockedError, OutputWriteError, SeqVecError
from seqvec.io import output as output_module
from seqvec.io.lock import OutputLock
from seqvec.io.output import Output, check_folder, write_output


def test_new_file_is_written_and_lock_removed(tmp_path):
    target = tmp_path / "sub" / "out.json"
    with Output(target) as out:
        assert (tmp_path / "sub" / "out.json.lock").exists()
        out.write_json({"a": 1})
    assert target.read_text() == '{\n "a": 1\n}\n'
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]


def test_existing_result_needs_overwrite(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(OutputExistsError, match="already exists") as info:
        Output(target).__enter__()
    assert info.value.path == str(target) and isinstance(info.value, FileExistsError)
    assert target.read_text() == "old"
    write_output(target, "new", overwrite=True)
    assert target.read_text() == "new"


@pytest.mark.parametrize("how", ["same", "relative", "symlink", "hardlink", "inside_dir"])
def test_input_never_overwritten_even_with_overwrite(tmp_path, monkeypatch, how):
    source = tmp_path / "in.fa"
    source.write_text(">a\nMKL\n")
    target = {"same": source, "relative": tmp_path / "x" / ".." / "in.fa", "symlink": tmp_path / "link.fa",
              "hardlink": tmp_path / "hard.fa", "inside_dir": source}[how]
    inputs = [tmp_path if how == "inside_dir" else source]
    if how == "symlink":
        target.symlink_to(source)
    if how == "hardlink":
        os.link(source, target)
    (tmp_path / "x").mkdir()
    with pytest.raises(OutputIsInputError, match="would replace the input") as info:
        write_output(target, "{}", inputs=inputs, overwrite=True)
    assert isinstance(info.value, ValueError) and info.value.exit_status == 2
    assert source.read_text() == ">a\nMKL\n"


def test_directory_holding_an_input_is_refused(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "labels.fasta").write_text(">a\n")
    with pytest.raises(OutputIsInputError):
        Output(folder, inputs=[folder / "labels.fasta"], overwrite=True, directory=True).__enter__()


def test_model_files_are_inputs(tiny_model_dir, tmp_path):
    with pytest.raises(OutputIsInputError):
        Output(tiny_model_dir / "weights.hdf5", inputs=[tiny_model_dir], overwrite=True).check()


def test_crash_while_writing_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with Output(target, overwrite=True) as out:
            with out.open("w") as fh:
                fh.write("half")
                raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_directory_replaced_atomically_and_crash_keeps_old(tmp_path):
    target = tmp_path / "head"
    target.mkdir()
    (target / "weights.pt").write_text("old")
    with pytest.raises(RuntimeError):
        with Output(target, overwrite=True, directory=True) as out, out.staging() as tmp:
            (tmp / "weights.pt").write_text("half")
            raise RuntimeError("killed")
    assert (target / "weights.pt").read_text() == "old"
    with Output(target, overwrite=True, directory=True) as out, out.staging() as tmp:
        (tmp / "config.json").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["config.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["head"]


@pytest.mark.parametrize("exchange", [True, False])
def test_directory_replacement_without_exchange(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(output_module, "_exchange", lambda a, b: False)
    target = tmp_path / "head"
    target.mkdir()
    (target / "old").write_text("x")
    with Output(target, overwrite=True, directory=True) as out, out.staging() as tmp:
        (tmp / "new").write_text("y")
    assert [p.name for p in target.iterdir()] == ["new"]


def test_leftovers_of_a_killed_run_are_repaired(tmp_path):
    target = tmp_path / "head"
    aside = tmp_path / ".head.replaced-1234abcd"  # killed between the two renames
    aside.mkdir()
    (aside / "weights.pt").write_text("old")
    (tmp_path / ".head.tmp-deadbeef").mkdir()
    with pytest.raises(OutputExistsError):
        with Output(target, directory=True):
            pass
    with Output(target, directory=True, overwrite=True):
        pass
    assert (target / "weights.pt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["head"]


def test_kind_mismatch_is_refused(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(OutputExistsError, match="is a directory"):
        Output(tmp_path / "d", overwrite=True).check()


def test_symlinked_lock_is_refused_and_target_untouched(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    (tmp_path / "out.h5.lock").symlink_to(precious)
    with pytest.raises(OutputWriteError, match="symbolic link"):
        OutputLock(tmp_path / "out.h5").acquire()
    with pytest.raises(OutputWriteError):
        write_output(tmp_path / "out.h5", "x")
    assert precious.read_text() == "keep me"
    assert not (tmp_path / "out.h5").exists()


def test_second_writer_is_locked_out(tmp_path):
    with Output(tmp_path / "o.txt"):
        with pytest.raises(OutputLockedError):
            Output(tmp_path / "o.txt").__enter__()


def test_unwritable_folder_is_one_line_error(tmp_path, monkeypatch):
    real_open = os.open

    def read_only(path, flags, *args):
        if ".seqvec-probe-" in str(path):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, flags, *args)

    monkeypatch.setattr(output_module.os, "open", read_only)
    with pytest.raises(OutputWriteError, match="cannot write in the folder") as info:
        Output(tmp_path / "out.json").check()
    assert info.value.errno == errno.EROFS and info.value.exit_status == 1 and "\n" not in str(info.value)


def test_missing_folder_that_cannot_be_made(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputWriteError, match=str(tmp_path / "file")):
        Output(tmp_path / "file" / "sub" / "out.json").check()


def test_full_folder(tmp_path):
    with pytest.raises(OutputWriteError, match="bytes free") as info:
        check_folder(tmp_path, need_bytes=1 << 62)
    assert info.value.errno == errno.ENOSPC


def test_read_only_folder(read_only_dir):
    """chmod, or for root a read-only file system (conftest's read_only_dir)."""
    with pytest.raises(OutputWriteError, match=str(read_only_dir)):
        write_output(read_only_dir / "out.txt", "x")


@pytest.mark.parametrize("bad", [None, b"out", 3, "", "-"])
def test_bad_path_types(bad):
    with pytest.raises(TypeError, match="path"):
        Output(bad)


def test_errors_are_seqvec_errors():
    assert issubclass(OutputExistsError, SeqVecError) and issubclass(OutputIsInputError, SeqVecError)


def test_a_workspace_may_hold_inputs_but_not_be_one(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    labels = folder / "labels.fasta"
    labels.write_text(">a\n")
    with Output(folder, inputs=[labels], workspace=True) as out:
        assert out.overwrite and out.directory
        with pytest.raises(TypeError, match="workspace"):
            with out.staging():
                pass
    assert labels.read_text() == ">a\n"
    with pytest.raises(OutputIsInputError):
        Output(folder, inputs=[folder], workspace=True).check()
