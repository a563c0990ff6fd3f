"""One module per file format; each declares how it recognises its files and reads/writes them."""
