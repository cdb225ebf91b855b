"""The report of every run: the equity series it records, its figures, the HTML page and trade list."""
