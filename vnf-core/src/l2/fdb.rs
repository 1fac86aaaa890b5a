//! Forwarding database (placeholder, being written).
