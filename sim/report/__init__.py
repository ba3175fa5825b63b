"""Signal study: approach and timing tables, emissions, and the hand-over report."""
