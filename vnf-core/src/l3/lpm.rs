//! IPv4 longest prefix match (placeholder, being written).
