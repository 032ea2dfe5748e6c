"""Crawling web photos of taxonomy categories: pluggable sources, robots.txt, resumable state."""
