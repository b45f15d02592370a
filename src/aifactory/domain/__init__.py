"""Pure domain: records, checks, statistics and suite files. No I/O frameworks here."""
