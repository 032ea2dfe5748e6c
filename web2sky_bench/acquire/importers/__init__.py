"""Importers: public dataset formats and image-folder releases -> web2sky dataset folders."""
