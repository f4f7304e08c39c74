"""pagewise services: gateway, splitter, ocr, assembler, and the plumbing they share (``common``)."""
