import sys

from backprop_manual.cli import main

sys.exit(main())
