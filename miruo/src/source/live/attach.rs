//! Interfaces and hooks: which interfaces exist in the current network namespace, what link
//! header their frames carry, and attaching the loaded programs to them.
//!
//! Every hook is held as an owned link: dropping it detaches, and TCX and XDP links are file
//! descriptors, so the kernel detaches them itself when the process dies, even by SIGKILL.
//! Only the netlink clsact fallback (kernels without TCX) can outlive a killed process; it is
//! announced when used.

use super::object::Programs;
use crate::source::LinkType;
use anyhow::{Context, Result, bail};
use aya::programs::{
    LinkOrder, SchedClassifier, TcAttachType, Xdp, XdpMode,
    tc::{NlOptions, SchedClassifierLink, TcAttachOptions, TcError, qdisc_add_clsact},
    xdp::XdpLink,
};
use miruo_common::{
    PROG_TC_EGRESS, PROG_TC_EGRESS_RAW, PROG_TC_INGRESS, PROG_TC_INGRESS_RAW, PROG_XDP,
};
use std::ffi::{CStr, CString};

/// What a device's frames start with, as far as the programs are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeviceKind {
    Ethernet,
    /// `lo`: Ethernet-like header of zeros; every packet passes egress and then ingress, so
    /// only ingress is hooked (libpcap drops the outgoing copy on loopback too).
    Loopback,
    /// No link header: frames start at the IP header (tun, WireGuard, IP-in-IP, sit, PPP).
    RawIp,
    /// Anything else (CAN, IEEE 802.15.4, ...): not captured.
    Unsupported(u16),
}

impl DeviceKind {
    pub(crate) fn link_type(self) -> LinkType {
        match self {
            DeviceKind::RawIp => LinkType::RAW,
            _ => LinkType::ETHERNET,
        }
    }
}

/// `(ifindex, name)` of every interface in the current network namespace. `if_nameindex()` asks
/// the kernel over netlink; `/sys/class/net` can show another namespace's devices.
pub(crate) fn list_interfaces() -> Result<Vec<(u32, String)>> {
    // SAFETY: returns a heap array terminated by a zero entry, freed below.
    let head = unsafe { libc::if_nameindex() };
    if head.is_null() {
        return Err(std::io::Error::last_os_error()).context("cannot list network interfaces");
    }
    let mut out = Vec::new();
    let mut p = head;
    // SAFETY: walk until the terminating entry (if_index 0, null name).
    unsafe {
        while (*p).if_index != 0 && !(*p).if_name.is_null() {
            let name = CStr::from_ptr((*p).if_name).to_string_lossy().into_owned();
            out.push(((*p).if_index, name));
            p = p.add(1);
        }
        libc::if_freenameindex(head);
    }
    Ok(out)
}

/// The interface index of `name` in the current namespace.
pub(crate) fn ifindex(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// The device's hardware type (ARPHRD_*), from SIOCGIFHWADDR.
pub(crate) fn device_kind(name: &str) -> Result<DeviceKind> {
    if name.len() >= libc::IFNAMSIZ {
        bail!("interface name too long: {name}");
    }
    // SAFETY: socket(2) with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("socket(AF_INET)");
    }
    // SAFETY: fd was just opened and is owned here.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: SIOCGIFHWADDR fills ifr_hwaddr of the ifreq we pass.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("cannot read the hardware type of {name}"));
    }
    // SAFETY: the ioctl succeeded, so the hwaddr member is the one written.
    let family = unsafe { req.ifr_ifru.ifru_hwaddr.sa_family };
    Ok(match family {
        libc::ARPHRD_ETHER => DeviceKind::Ethernet,
        libc::ARPHRD_LOOPBACK => DeviceKind::Loopback,
        // ARPHRD_RAWIP (519) is not in libc.
        libc::ARPHRD_NONE
        | 519
        | libc::ARPHRD_TUNNEL
        | libc::ARPHRD_TUNNEL6
        | libc::ARPHRD_SIT
        | libc::ARPHRD_PPP => DeviceKind::RawIp,
        other => DeviceKind::Unsupported(other),
    })
}

/// The hooks on one interface.
pub(crate) struct Attached {
    pub(crate) ifindex: u32,
    pub(crate) name: String,
    pub(crate) kind: DeviceKind,
    /// How it was attached, for the start-up note ("TC ingress+egress (TCX)", ...).
    pub(crate) how: String,
    /// The netlink fallback was used: the hooks would survive a SIGKILL.
    pub(crate) persistent: bool,
    /// Held only to be dropped: dropping a link detaches its hook.
    _tc: Vec<SchedClassifierLink>,
    _xdp: Option<XdpLink>,
}

impl Attached {
    pub(crate) fn hook_count(&self) -> usize {
        self._tc.len() + usize::from(self._xdp.is_some())
    }
}

/// How to hook an interface.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HookOptions {
    /// XDP instead of TC for ingress.
    pub(crate) xdp: bool,
    /// Skip TCX and use netlink clsact, as on kernels before 6.6.
    pub(crate) tc_netlink: bool,
}

/// Attaches the programs to `name`: TC ingress (or XDP with `xdp`) and TC egress.
pub(crate) fn attach(programs: &mut Programs, name: &str, how: HookOptions) -> Result<Attached> {
    let HookOptions { xdp, tc_netlink } = how;
    let ifindex = ifindex(name).with_context(|| format!("no such interface: {name}"))?;
    let kind = device_kind(name)?;
    if let DeviceKind::Unsupported(t) = kind {
        bail!("{name}: link type {t} (ARPHRD) is not supported for live capture");
    }
    let raw = kind == DeviceKind::RawIp;
    let mut tc = Vec::new();
    let mut xdp_link = None;
    let mut notes = Vec::new();
    let mut persistent = false;

    // XDP needs an Ethernet header in our program; raw-IP devices keep TC ingress.
    if xdp && !raw {
        let (link, mode) = attach_xdp(programs, name)?;
        xdp_link = Some(link);
        notes.push(format!("XDP ingress ({mode})"));
    } else {
        let prog = if raw {
            PROG_TC_INGRESS_RAW
        } else {
            PROG_TC_INGRESS
        };
        let (link, tcx) = attach_tc(programs, prog, name, TcAttachType::Ingress, tc_netlink)?;
        persistent |= !tcx;
        tc.push(link);
        notes.push(format!(
            "TC ingress ({})",
            if tcx { "TCX" } else { "netlink clsact" }
        ));
        if xdp {
            notes.push("no XDP: device has no Ethernet header".into());
        }
    }
    if kind != DeviceKind::Loopback {
        let prog = if raw {
            PROG_TC_EGRESS_RAW
        } else {
            PROG_TC_EGRESS
        };
        let (link, tcx) = attach_tc(programs, prog, name, TcAttachType::Egress, tc_netlink)?;
        persistent |= !tcx;
        tc.push(link);
        notes.push(format!(
            "TC egress ({})",
            if tcx { "TCX" } else { "netlink clsact" }
        ));
    }
    Ok(Attached {
        ifindex,
        name: name.to_string(),
        kind,
        how: notes.join(", "),
        persistent,
        _tc: tc,
        _xdp: xdp_link,
    })
}

/// TCX first (fd link); netlink clsact where the kernel has no TCX (< 6.6). Returns whether
/// TCX was used.
fn attach_tc(
    programs: &mut Programs,
    prog: &str,
    name: &str,
    dir: TcAttachType,
    netlink_only: bool,
) -> Result<(SchedClassifierLink, bool)> {
    let p: &mut SchedClassifier = programs.program_mut(prog)?.try_into()?;
    let mut tcx_note = String::new();
    if !netlink_only {
        match p.attach_with_options(name, dir, TcAttachOptions::TcxOrder(LinkOrder::default())) {
            Ok(id) => return Ok((p.take_link(id)?, true)),
            Err(e) if is_permission(&e) => {
                return Err(e).with_context(|| format!("cannot attach to {name}"));
            }
            Err(e) => tcx_note = format!(" (TCX failed: {e})"),
        }
    }
    match qdisc_add_clsact(name) {
        Ok(()) | Err(TcError::AlreadyAttached) => {}
        Err(TcError::NetlinkError(e)) if e.raw_os_error() == Some(libc::EEXIST) => {}
        Err(e) => bail!("cannot attach to {name}: cannot add a clsact qdisc: {e}{tcx_note}"),
    }
    let id = p
        .attach_with_options(name, dir, TcAttachOptions::Netlink(NlOptions::default()))
        .with_context(|| format!("cannot attach to {name}{tcx_note}"))?;
    Ok((p.take_link(id)?, false))
}

/// Native XDP where the driver has it, else generic. Returns the link and the mode's name.
fn attach_xdp(programs: &mut Programs, name: &str) -> Result<(XdpLink, &'static str)> {
    let p: &mut Xdp = programs.program_mut(PROG_XDP)?.try_into()?;
    match p.attach(name, XdpMode::Driver) {
        Ok(id) => Ok((p.take_link(id)?, "native")),
        Err(native) => {
            let id = p.attach(name, XdpMode::Skb).with_context(|| {
                format!("cannot attach XDP to {name} (native mode failed too: {native})")
            })?;
            Ok((p.take_link(id)?, "generic"))
        }
    }
}

fn is_permission(e: &aya::programs::ProgramError) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io.raw_os_error() == Some(libc::EPERM);
        }
        src = s.source();
    }
    false
}
