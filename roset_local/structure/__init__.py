"""Structured extraction: layout analysis of positioned words into headings, lists, tables and figures."""
