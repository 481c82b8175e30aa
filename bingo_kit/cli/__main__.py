import sys

from bingo_kit.cli import main

sys.exit(main())
