"""The formats sources are read in: one file per format, ``read_<format>.py`` with the format named
as params name it (``sources.<name>.read.format``), defining the reader function of the same name,
``read_<format>(folder, cfg) -> Records``. The registry imports the file on first use: nothing else
lists a format."""
