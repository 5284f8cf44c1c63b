//! Deep packet inspection (`-m`): protocol lines shown under a segment. Only HTTP for now.

pub mod http;
