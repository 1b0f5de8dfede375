"""How each on-disk format is parsed: one file per format in ``formats/`` (``read_<format>.py``), looked up by the name
params give it (``registry.read_source``); ``base`` holds what every reader shares. Importing
one format imports no other, so a stage depends on the formats it reads."""
