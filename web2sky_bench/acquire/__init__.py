"""Acquiring data: released datasets, importers of public aerial datasets, crawling."""
