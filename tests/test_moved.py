"""Old import paths (before the classifier wings, seqvec.workflow and lm.training) work for
one release, warn, and give the very objects of the new paths; no stub file stands for them."""
import importlib
import sys
import warnings
from pathlib import Path

import pytest

import seqvec
from seqvec.moved import MOVED_MODULES, new_path

PACKAGE = Path(seqvec.__file__).parent


def _forget(name: str) -> None:
    """Drop ``name`` and its submodules from sys.modules (only the old aliases, never a new module)."""
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        if new_path(key) is not None:
            del sys.modules[key]


@pytest.mark.parametrize("old", sorted(MOVED_MODULES))
def test_old_module_path_warns_and_is_the_new_module(old):
    new = importlib.import_module(MOVED_MODULES[old])
    _forget(old)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {MOVED_MODULES[old]}"):
        module = importlib.import_module(old)
    assert module is new
    assert not (PACKAGE.parent / (old.replace(".", "/") + ".py")).exists()  # no stub file


def test_old_submodule_of_renamed_package_is_not_loaded_twice():
    from seqvec.workflow import run

    _forget("seqvec.pipeline")
    with pytest.warns(DeprecationWarning, match="seqvec.pipeline moved to seqvec.workflow"):
        from seqvec.pipeline import run as old_run
    with pytest.warns(DeprecationWarning, match="seqvec.pipeline.run moved to seqvec.workflow.run"):
        from seqvec.pipeline.run import run_pipeline
    assert old_run is run and run_pipeline is run.run_pipeline and sys.modules["seqvec.pipeline.run"] is run


def test_old_module_names_on_packages_of_the_same_name():
    from seqvec.classifiers.heads import registry
    from seqvec.classifiers.labels import files

    with pytest.warns(DeprecationWarning, match="seqvec.classifiers.heads.head_class moved to "
                                                 "seqvec.classifiers.heads.registry.head_class"):
        from seqvec.classifiers.heads import head_class
    with pytest.warns(DeprecationWarning, match="seqvec.classifiers.labels.read_labels moved"):
        from seqvec.classifiers.labels import read_labels
    assert head_class is registry.head_class and read_labels is files.read_labels


def test_moved_name_of_a_module():
    from seqvec.lm import kernels, tuning

    with pytest.warns(DeprecationWarning, match="seqvec.lm.kernels.measure_lstm_products moved"):
        assert kernels.measure_lstm_products is tuning.measure_lstm_products
    with pytest.raises(AttributeError, match="has no attribute 'TIME_CHUNK'"):
        kernels.TIME_CHUNK  # noqa: B018 (tuning imports it; it was never a name of kernels)


def test_new_paths_and_unknown_names_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        import seqvec.classifiers.labels.readers  # noqa: F401
        from seqvec.classifiers.heads import base, checkpoint  # noqa: F401 (submodules: no forwarding)
        with pytest.raises(ImportError):
            from seqvec.classifiers.heads import no_such_name  # noqa: F401
        with pytest.raises(ModuleNotFoundError):
            import seqvec.classifiers.no_such_module  # noqa: F401
