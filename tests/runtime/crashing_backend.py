"""A local backend that dies like a killed process at a chosen task (the run-interruption tests share it)."""

from phalanx.runtime.backend import LocalBackend


class CrashingBackend(LocalBackend):
    """Runs tasks locally and raises ``KeyboardInterrupt`` (as a killed process would end the run) when the
    ``crash_at``-th task is submitted."""

    def __init__(self, crash_at: int):
        super().__init__()
        self.crash_at = crash_at

    def submit(self, fn, *args, **kwargs):
        if self.tasks_run + 1 == self.crash_at:
            raise KeyboardInterrupt("killed")
        return super().submit(fn, *args, **kwargs)
