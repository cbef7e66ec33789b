"""Positions: where extracted text sits on its page (the `structure` variant, chunk boxes, page images)."""
