"""Fixtures every test folder shares. This folder is on ``sys.path`` (pytest puts a rootdir
conftest's folder there), so tests import the helpers next to it: ``dicm_tiny`` (tiny
configs, data and subprocess environments) and ``dicm_probe_hooks``."""
import pytest
import torch


def _single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def one_thread():
    """One intra-op thread for a test: on a shared 2-core machine, 2 threads spinning at each
    op's barrier while another process holds a core make tiny models many times slower."""
    yield from _single_thread()


@pytest.fixture(scope='module')
def one_thread_module():
    """:func:`one_thread` for every test of a module
    (``pytestmark = pytest.mark.usefixtures('one_thread_module')``)."""
    yield from _single_thread()
