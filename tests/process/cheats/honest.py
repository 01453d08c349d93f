"""The control: the honest stack behind the same wrapper, every line unchanged (it must PASS,
so a cheat's verdict is the cheat's, not the wrapper's)."""

from wrap import wrap

wrap(lambda line: [line])
