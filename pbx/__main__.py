import sys

from pbx.cli import main

sys.exit(main())
