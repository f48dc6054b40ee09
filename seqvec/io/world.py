"""This process's place among the processes of one job, under ``torchrun`` (the "world" of
``torch.distributed``; docs/embeddings.md, "Several processes").

``torchrun`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; with ``WORLD_SIZE > 1`` the
ranks join a process group: gloo on CPU, NCCL on GPU. Embedding uses it for barriers
only (each rank writes its own parts); LM training for DistributedDataParallel.
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
    """Rank, world size and local rank (size 1 outside torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> World:
        """Read torchrun's environment variables."""
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size <= 1:
            return cls()
        return cls(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def is_main(self) -> bool:
        """True on rank 0, the rank that writes shared files."""
        return self.rank == 0

    def device(self, device: str) -> str:
        """A rank's device: ``cuda`` becomes ``cuda:<LOCAL_RANK>`` under torchrun."""
        return f"cuda:{self.local_rank}" if device == "cuda" and self.size > 1 else device

    def start(self, device: str = "cpu") -> bool:
        """Join the process group of a multi-process job (NCCL for a CUDA ``device``, else gloo,
        making ``cuda:<LOCAL_RANK>`` this process's current device); True if this call joined it."""
        if self.size <= 1:
            return False
        import torch
        import torch.distributed as dist

        if dist.is_initialized():
            return False
        cuda = device.startswith("cuda")
        if cuda:
            torch.cuda.set_device(self.local_rank)
        dist.init_process_group("nccl" if cuda else "gloo", timeout=BARRIER_TIMEOUT)
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

    def any(self, flag: bool) -> bool:
        """True if ``flag`` is true on any rank (every rank must call this)."""
        if self.size <= 1:
            return flag
        import torch
        import torch.distributed as dist

        t = torch.tensor([int(flag)], device="cuda" if dist.get_backend() == "nccl" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())
