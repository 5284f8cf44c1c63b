//! Reporting: turns the tracker's display decisions into text on stdout, and the counters into
//! the statistics block on stderr. Formatting lives only here.

pub mod bytes;
pub mod clock;
pub mod options;
pub mod stats;
pub mod text;
