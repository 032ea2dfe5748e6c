"""Importers: turn public datasets on disk into manifest dataset folders."""
