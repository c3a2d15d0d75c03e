"""The host side of the link: protocol v4, the driver, the byte-level board model, the
fault-injecting proxy and the board self-test."""
