"""Splitter: turns an uploaded PDF into one rendered image and one event per page."""
