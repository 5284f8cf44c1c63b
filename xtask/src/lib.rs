//! miruo's developer tooling as a library, so the integration tests of `miruo` can use the same
//! network-namespace test bed as `cargo xtask gen-testdata`.

pub mod bench;
pub mod bench_live;
pub mod fuzz;
pub mod run;
pub mod setup;
pub mod soak;
pub mod test;
pub mod testbed;
pub mod testdata;
pub mod util;
