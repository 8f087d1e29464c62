"""Neural-network modules (being written)."""
