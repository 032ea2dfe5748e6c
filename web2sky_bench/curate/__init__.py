"""Curation: cleaning checks, near-duplicate detection, splits and few-shot subsets."""
