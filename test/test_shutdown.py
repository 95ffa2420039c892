"""StopSignals: the first SIGINT / SIGTERM asks to stop (aborting a start-up), later ones do nothing."""

import os
import signal
import time

import pytest

from seg_perception.node.shutdown import StopSignals


def _deliver(signum: int) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(0.01)  # Python runs the handler at the next bytecode boundary


def test_a_signal_while_starting_aborts_the_start_up():
    with StopSignals() as stop:
        with pytest.raises(KeyboardInterrupt):
            _deliver(signal.SIGTERM)
        assert stop.requested
        _deliver(signal.SIGINT)  # the second of a launch's Ctrl-C: nothing happens


def test_signals_once_running_only_ask_to_stop_and_the_previous_handlers_come_back():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with StopSignals() as stop:
        stop.starting = False
        _deliver(signal.SIGINT)
        _deliver(signal.SIGINT)
        _deliver(signal.SIGTERM)
        assert stop.requested
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
