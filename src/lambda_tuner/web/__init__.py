"""HTML for people: the approval pages and the cost/duration chart (inline SVG, no external assets)."""
