"""Stopping the servers and clusters tests start in their own process groups."""
import os
import signal
import subprocess


def stop_process_group(process: subprocess.Popen, grace: float = 20) -> None:
    """SIGTERM the group's leader (a qcluster or a gunicorn master stops its own children in
    order: about 2 s, where a SIGTERM to every process at once left a qcluster's main process
    waiting ~20 s for a sentinel that was already gone), SIGKILL whatever of the group is left
    after ``grace`` seconds or once the leader is gone. A group already gone is fine (an error
    here must never hide the failure that killed it)."""
    try:
        process.send_signal(signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        pass
