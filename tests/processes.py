"""Stopping the servers and clusters tests start in their own process groups."""
import os
import signal
import subprocess


def stop_process_group(process: subprocess.Popen, grace: float = 20) -> None:
    """SIGTERM the group, SIGKILL it after ``grace`` seconds; a group already gone is fine (an
    error here must never hide the failure that killed it)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
