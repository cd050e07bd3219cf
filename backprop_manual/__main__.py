import sys

from backprop_manual.cli.main import main

sys.exit(main())
