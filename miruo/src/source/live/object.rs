//! The kernel programs as user space sees them: the object embedded at build time
//! (`cfg(miruo_ebpf)`, see `build.rs`), the privilege check with its one-line advice, and
//! loading with the configuration written into `.rodata`.
//!
//! Loading is separate from attaching so that tests can run the loaded programs through
//! `BPF_PROG_TEST_RUN` without touching any interface (see `testing`).

use anyhow::{Context, Result, bail};
use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, PerCpuArray, RingBuf},
    programs::{Program, SchedClassifier, Xdp},
};
use miruo_common::{
    CONFIG_GLOBAL, COUNTERS_MAP, Config, PROG_TC_EGRESS, PROG_TC_EGRESS_RAW, PROG_TC_INGRESS,
    PROG_TC_INGRESS_RAW, PROG_XDP, RING_MAP, counter,
};

/// The eBPF object, when the build had the toolchain.
fn object() -> Option<&'static [u8]> {
    #[cfg(miruo_ebpf)]
    {
        Some(aya::include_bytes_aligned!(concat!(
            env!("OUT_DIR"),
            "/miruo"
        )))
    }
    #[cfg(not(miruo_ebpf))]
    {
        None
    }
}

/// Whether this binary carries the kernel programs (for `-V` and for skipping tests).
pub fn available() -> bool {
    object().is_some()
}

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// The capabilities live capture needs and this process lacks. Empty when they cannot be read
/// (the kernel will then say no, and that error is shown).
pub fn missing_capabilities() -> Vec<&'static str> {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return Vec::new();
    };
    let Some(eff) = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
    else {
        return Vec::new();
    };
    let has = |bit: u32| eff >> bit & 1 == 1;
    let mut missing = Vec::new();
    // Before CAP_BPF existed (5.8) CAP_SYS_ADMIN was the one; it still implies it.
    if !has(CAP_BPF) && !has(CAP_SYS_ADMIN) {
        missing.push("CAP_BPF");
    }
    if !has(CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    missing
}

/// Fails with one line saying what to do when live capture cannot work at all here.
pub fn check_prerequisites() -> Result<()> {
    if !available() {
        bail!(
            "this miruo was built without its eBPF programs (the eBPF toolchain was missing): \
             run `cargo xtask setup` and rebuild, or read a capture file with -f FILE"
        );
    }
    let missing = missing_capabilities();
    if !missing.is_empty() {
        bail!(
            "live capture needs privileges this process lacks ({}): run it as root \
             (sudo miruo -i ...), or read a capture file with -f FILE",
            missing.join(", ")
        );
    }
    Ok(())
}

/// The loaded programs and their maps.
pub struct Programs {
    ebpf: Ebpf,
}

impl Programs {
    /// Loads the object with `config` and a ring of `ring_bytes` (a power-of-two multiple of the
    /// page size), and loads every TC program into the kernel; the XDP program only with `xdp`
    /// (so a kernel without XDP support is no obstacle to TC capture).
    pub fn load(config: &Config, ring_bytes: u32, xdp: bool) -> Result<Programs> {
        check_prerequisites()?;
        let obj = object().expect("checked by check_prerequisites");
        // RLIMIT_MEMLOCK: kernels ≥ 5.11 account BPF memory to the cgroup instead, and raising
        // it needs CAP_SYS_RESOURCE, which containers often lack; so it is left alone.
        let mut ebpf = EbpfLoader::new()
            .override_global(CONFIG_GLOBAL, config, true)
            .map_max_entries(RING_MAP, ring_bytes)
            .load(obj)
            .context("cannot load miruo's eBPF object")?;
        for name in [
            PROG_TC_INGRESS,
            PROG_TC_EGRESS,
            PROG_TC_INGRESS_RAW,
            PROG_TC_EGRESS_RAW,
        ] {
            let p: &mut SchedClassifier = program(&mut ebpf, name)?.try_into()?;
            p.load()
                .map_err(verifier_error)
                .with_context(|| format!("cannot load {name}"))?;
        }
        if xdp {
            let p: &mut Xdp = program(&mut ebpf, PROG_XDP)?.try_into()?;
            p.load()
                .map_err(verifier_error)
                .with_context(|| format!("cannot load {PROG_XDP}"))?;
        }
        Ok(Programs { ebpf })
    }

    pub(crate) fn program_mut(&mut self, name: &str) -> Result<&mut Program> {
        program(&mut self.ebpf, name)
    }

    pub(crate) fn program(&self, name: &str) -> Result<&Program> {
        self.ebpf
            .program(name)
            .with_context(|| format!("the eBPF object has no program {name}"))
    }

    /// Takes the ring buffer out of the object (once).
    pub(crate) fn take_ring(&mut self) -> Result<RingBuf<MapData>> {
        let map = self
            .ebpf
            .take_map(RING_MAP)
            .with_context(|| format!("no map {RING_MAP}"))?;
        Ok(RingBuf::try_from(map)?)
    }

    /// Takes the per-CPU counters out of the object (once).
    pub(crate) fn take_counters(&mut self) -> Result<Counters> {
        let map = self
            .ebpf
            .take_map(COUNTERS_MAP)
            .with_context(|| format!("no map {COUNTERS_MAP}"))?;
        Ok(Counters(PerCpuArray::try_from(map)?))
    }
}

fn program<'a>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut Program> {
    ebpf.program_mut(name)
        .with_context(|| format!("the eBPF object has no program {name}"))
}

/// A verifier rejection carries the whole log; keep it, it is the only way to see why.
fn verifier_error(e: aya::programs::ProgramError) -> anyhow::Error {
    match e {
        aya::programs::ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            anyhow::anyhow!(
                "the kernel refused the program ({io_error}); verifier log:\n{verifier_log}"
            )
        }
        other => other.into(),
    }
}

/// The programs' per-CPU counters (`miruo_common::counter`).
pub struct Counters(PerCpuArray<MapData, u64>);

impl Counters {
    /// Every counter summed over the CPUs; zeros where the map cannot be read.
    pub fn read(&self) -> [u64; counter::COUNT as usize] {
        let mut out = [0u64; counter::COUNT as usize];
        for (i, slot) in out.iter_mut().enumerate() {
            if let Ok(values) = self.0.get(&(i as u32), 0) {
                *slot = values.iter().sum();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn prerequisite_errors_are_one_line_and_say_what_to_do() {
        // Passes trivially when built with the programs and run as root; otherwise the message
        // must name the way out (MIRUO_NO_EBPF=1 builds exercise the first branch).
        if let Err(e) = super::check_prerequisites() {
            let m = e.to_string();
            assert!(!m.contains('\n'), "{m}");
            let advice = if super::available() {
                "sudo"
            } else {
                "cargo xtask setup"
            };
            assert!(m.contains(advice) && m.contains("-f FILE"), "{m}");
        }
    }
}
