import sys

from gilknocker._cli import main

sys.exit(main())
