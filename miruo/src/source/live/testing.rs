//! Running the real kernel programs on crafted frames through `BPF_PROG_TEST_RUN`, for the
//! parser tests (`tests/ebpf_parser.rs`): no interface is touched, the verdict, the records the
//! programs wrote into the ring and the per-CPU counters are read back.
//!
//! Not used by the capture path; public so integration tests and benchmarks can use it.
//! [`test_run_fd`] runs a program by fd (e.g. from `LiveSource::program_fd`) from any thread,
//! so a benchmark can produce records at the kernel's pace while a `LiveSource` drains them.

use super::object::{Counters, Programs};
use anyhow::{Context, Result, bail};
use aya::{
    maps::{MapData, RingBuf},
    programs::{SchedClassifier, TestRun, TestRunOptions, Xdp},
};
use miruo_common::{
    Config, PROG_TC_EGRESS, PROG_TC_EGRESS_RAW, PROG_TC_INGRESS, PROG_TC_INGRESS_RAW, PROG_XDP,
    RECORD_HEADER_LEN, RecordHeader, counter,
};

/// One program of the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    TcIngress,
    TcEgress,
    TcIngressRaw,
    TcEgressRaw,
    Xdp,
}

impl Hook {
    fn program(self) -> &'static str {
        match self {
            Hook::TcIngress => PROG_TC_INGRESS,
            Hook::TcEgress => PROG_TC_EGRESS,
            Hook::TcIngressRaw => PROG_TC_INGRESS_RAW,
            Hook::TcEgressRaw => PROG_TC_EGRESS_RAW,
            Hook::Xdp => PROG_XDP,
        }
    }
}

/// A record as the program wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedRecord {
    pub header: RecordHeader,
    /// The `cap_len` frame bytes.
    pub data: Vec<u8>,
    /// Size of the ring item (header + record class), to check the class choice.
    pub item_len: usize,
}

/// What one run produced.
#[derive(Debug)]
pub struct RunResult {
    /// The program's return value (`TC_ACT_UNSPEC` as u32 = 0xffff_ffff for TC, `XDP_PASS` = 2).
    pub verdict: u32,
    pub records: Vec<CapturedRecord>,
    /// Counter increments caused by this run, indexed by `miruo_common::counter`.
    pub counters: [u64; counter::COUNT as usize],
}

/// The loaded programs with their ring and counters, ready for test runs.
pub struct ProgramHarness {
    programs: Programs,
    ring: RingBuf<MapData>,
    counters: Counters,
}

impl ProgramHarness {
    /// Loads every program (XDP included) with `config`.
    pub fn load(config: &Config) -> Result<ProgramHarness> {
        let mut programs = Programs::load(config, 1 << 20, true)?;
        let ring = programs.take_ring()?;
        let counters = programs.take_counters()?;
        Ok(ProgramHarness {
            programs,
            ring,
            counters,
        })
    }

    /// Runs `hook` once on `frame` (at least 14 bytes: the kernel builds an Ethernet frame).
    pub fn run(&mut self, hook: Hook, frame: &[u8]) -> Result<RunResult> {
        // Leftovers from an earlier failed run would be attributed to this one.
        while self.ring.next().is_some() {}
        let before = self.counters.read();
        let opts = TestRunOptions {
            data_in: Some(frame),
            ..TestRunOptions::new()
        };
        let prog = self.programs.program(hook.program())?;
        let result = match hook {
            Hook::Xdp => {
                let p: &Xdp = prog.try_into()?;
                p.test_run(opts)
            }
            _ => {
                let p: &SchedClassifier = prog.try_into()?;
                p.test_run(opts)
            }
        }
        .with_context(|| format!("BPF_PROG_TEST_RUN of {} failed", hook.program()))?;
        let mut records = Vec::new();
        while let Some(item) = self.ring.next() {
            let Some(header) = RecordHeader::from_bytes(&item) else {
                bail!(
                    "ring item of {} bytes is shorter than a record header",
                    item.len()
                );
            };
            let end = RECORD_HEADER_LEN + usize::from(header.cap_len);
            let Some(data) = item.get(RECORD_HEADER_LEN..end) else {
                bail!(
                    "record says {} bytes but the ring item has {}",
                    header.cap_len,
                    item.len()
                );
            };
            records.push(CapturedRecord {
                header,
                data: data.to_vec(),
                item_len: item.len(),
            });
        }
        let after = self.counters.read();
        let mut counters = [0u64; counter::COUNT as usize];
        for (i, c) in counters.iter_mut().enumerate() {
            *c = after[i].wrapping_sub(before[i]);
        }
        Ok(RunResult {
            verdict: result.return_value,
            records,
            counters,
        })
    }
}

/// `BPF_PROG_TEST_RUN` on a program fd, `repeat` times on `frame`: returns the last verdict and
/// the kernel's mean run time in ns. The raw syscall, because aya's `test_run` needs the
/// `Program`, which the consuming `LiveSource` owns on another thread.
pub fn test_run_fd(
    fd: std::os::fd::BorrowedFd<'_>,
    frame: &[u8],
    repeat: u32,
) -> Result<(u32, u32)> {
    use std::os::fd::AsRawFd;
    /// The `test` member of `union bpf_attr` (include/uapi/linux/bpf.h), up to `batch_size`.
    #[repr(C)]
    #[derive(Default)]
    struct TestAttr {
        prog_fd: u32,
        retval: u32,
        data_size_in: u32,
        data_size_out: u32,
        data_in: u64,
        data_out: u64,
        repeat: u32,
        duration: u32,
        ctx_size_in: u32,
        ctx_size_out: u32,
        ctx_in: u64,
        ctx_out: u64,
        flags: u32,
        cpu: u32,
        batch_size: u32,
        _pad: u32,
    }
    const BPF_PROG_TEST_RUN: libc::c_long = 10;
    let mut attr = TestAttr {
        prog_fd: u32::try_from(fd.as_raw_fd()).context("negative fd")?,
        data_size_in: u32::try_from(frame.len()).context("frame too long")?,
        data_in: frame.as_ptr() as u64,
        repeat,
        ..TestAttr::default()
    };
    // SAFETY: attr is a valid bpf_attr prefix of the size we pass; data_in points to
    // frame.len() readable bytes that outlive the call; no output buffers are given.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_TEST_RUN,
            &mut attr as *mut TestAttr,
            std::mem::size_of::<TestAttr>(),
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error()).context("BPF_PROG_TEST_RUN");
    }
    Ok((attr.retval, attr.duration))
}
