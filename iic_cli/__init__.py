"""The `iic-inpaint` command line: file I/O and argument parsing around the engine and daemon."""
