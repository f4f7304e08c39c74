"""OCR: pull consumers that send page images to a vision-language model and publish its Markdown."""
