"""Running one embedding job in several processes under ``torchrun`` (DESIGN section 6).

``torchrun`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; with ``WORLD_SIZE > 1`` the
ranks join a gloo process group, used only for barriers: every rank embeds its own share
into its own part files, and rank 0 merges them once all are done.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta

logger = logging.getLogger(__name__)

# A rank that finishes early waits at the final barrier for the slowest one, which may
# take hours on a big input; torchrun ends all ranks anyway if one of them fails.
BARRIER_TIMEOUT = timedelta(days=7)


@dataclass(frozen=True)
class World:
    """This process's place among the processes of one job (size 1 outside torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> World:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size <= 1:
            return cls()
        return cls(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def start(self) -> bool:
        """Join the process group (gloo) in a multi-process job; True if this call joined it."""
        if self.size <= 1:
            return False
        import torch.distributed as dist

        if dist.is_initialized():
            return False
        dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)
        logger.debug("rank %d of %d joined the process group", self.rank, self.size)
        return True

    @staticmethod
    def stop() -> None:
        """Leave the process group (call only if :meth:`start` joined it)."""
        import torch.distributed as dist

        dist.destroy_process_group()

    def barrier(self) -> None:
        """Wait until every rank gets here (no-op in a single process)."""
        if self.size > 1:
            import torch.distributed as dist

            dist.barrier()

    def device(self, device: str) -> str:
        """A rank's device: ``cuda`` becomes ``cuda:<LOCAL_RANK>`` under torchrun."""
        return f"cuda:{self.local_rank}" if device == "cuda" and self.size > 1 else device
