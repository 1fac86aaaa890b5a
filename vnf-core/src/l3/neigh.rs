//! Neighbour table (placeholder, being written).
