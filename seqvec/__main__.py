"""``python -m seqvec`` (also what ``torchrun -m seqvec`` runs)."""
import sys

from seqvec.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
