//! miruo: a TCP session monitor. The pipeline, one module per stage:
//!
//! ```text
//! source ──frames──▶ filter ──▶ decode ──packets──▶ session ──display decisions──▶ report
//! ```
//!
//! [`source`] reads capture files (and the eBPF ring buffer), [`filter`] applies the tcpdump
//! expression to frames as captured, [`decode`] turns frames into TCP segments, [`session`] tracks sessions and runs the detectors (pure, time from packets),
//! [`report`] prints; [`cli`] resolves the command line and [`run`] drives the pipeline.

pub mod cli;
pub mod decode;
pub mod dpi;
pub mod filter;
pub mod report;
pub mod run;
pub mod session;
pub mod source;
