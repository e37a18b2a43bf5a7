//! The few unsafe system calls rctdb needs, each behind a safe function.
//!
//! Every other crate is `#![forbid(unsafe_code)]`; anything that needs
//! `libc` directly lives here, small and documented.

use std::collections::BTreeSet;
use std::io;
use std::net::IpAddr;

/// Broken-down local time, as `localtime_r` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    /// 1-12
    pub month: u32,
    /// 1-31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 = Sunday
    pub weekday: u32,
    /// Offset from UTC in seconds.
    pub utc_offset: i64,
}

/// Convert seconds since the epoch to local time (honours `TZ`).
pub fn local_time(secs: i64) -> LocalTime {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: `tm` is plain old data, fully written by localtime_r on
    // success; both pointers are valid for the duration of the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return LocalTime { year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0, weekday: 4, utc_offset: 0 };
    }
    LocalTime {
        year: tm.tm_year + 1900,
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
        weekday: tm.tm_wday as u32,
        utc_offset: tm.tm_gmtoff,
    }
}

/// `ctime(3)` text without the trailing newline: `Thu Oct 29 10:38:54 2009`.
pub fn ctime(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let t = local_time(secs);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[t.weekday as usize % 7],
        MONTHS[(t.month as usize + 11) % 12],
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.year
    )
}

/// Make this process a child subreaper: orphaned descendants (the
/// background children of an event script, say) are re-parented to us, so
/// our `waitpid` loop reaps them and nothing escapes as a zombie of init.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes one integer argument.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Ask the kernel to send `signal` to this process when its parent dies.
pub fn set_parent_death_signal(signal: i32) -> io::Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes one integer argument.
    let r = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_of_a_known_instant_in_utc() {
        // SAFETY-free: TZ is read by localtime_r via tzset on each call in glibc.
        // SAFETY: single-threaded test process section; set_var is unsafe in 2024 edition only.
        unsafe { std::env::set_var("TZ", "UTC") };
        assert_eq!(ctime(1_256_813_934), "Thu Oct 29 10:58:54 2009");
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
    }
}

/// Take an open-file-description (OFD) write lock on bytes
/// `[start, start+len)` of `file`. Without `wait`, returns `Ok(false)` when
/// another holder has it. OFD locks belong to the open file, not the
/// process: closing some other descriptor of the same file does not drop
/// them (POSIX locks would be), and they are released when the last
/// descriptor of this open file is closed, e.g. when the process dies.
pub fn ofd_write_lock(file: &std::fs::File, start: i64, len: i64, wait: bool) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock is plain old data; zero is a valid value for every field.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = libc::F_WRLCK as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = start as libc::off_t;
    fl.l_len = len as libc::off_t;
    fl.l_pid = 0; // required for OFD locks
    let cmd = if wait { libc::F_OFD_SETLKW } else { libc::F_OFD_SETLK };
    loop {
        // SAFETY: the fd is open for the lifetime of `file`; `fl` is valid.
        let r = unsafe { libc::fcntl(file.as_raw_fd(), cmd, &mut fl as *mut libc::flock) };
        if r == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) | Some(libc::EACCES) if !wait => return Ok(false),
            _ => return Err(e),
        }
    }
}

/// The parent process id.
pub fn parent_pid() -> i32 {
    // SAFETY: getppid cannot fail.
    unsafe { libc::getppid() }
}

#[cfg(test)]
mod lock_tests {
    use super::*;

    #[test]
    fn ofd_lock_is_exclusive_between_open_files() {
        let dir = std::env::temp_dir().join(format!("rctdb-sys-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lock");
        let a = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).unwrap();
        let b = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
        assert!(ofd_write_lock(&a, 0, 1, false).unwrap());
        assert!(!ofd_write_lock(&b, 0, 1, false).unwrap(), "second open file must be refused");
        // Another byte is independent.
        assert!(ofd_write_lock(&b, 1, 1, false).unwrap());
        drop(a);
        assert!(ofd_write_lock(&b, 0, 1, false).unwrap(), "closing the holder releases the lock");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// The hardware address of interface `ifname`, from sysfs.
fn interface_mac(ifname: &str) -> io::Result<[u8; 6]> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{ifname}/address"))?;
    let mut mac = [0u8; 6];
    let parts: Vec<&str> = text.trim().split(':').collect();
    if parts.len() != 6 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{ifname} has no Ethernet address")));
    }
    for (m, p) in mac.iter_mut().zip(parts) {
        *m = u8::from_str_radix(p, 16).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    }
    Ok(mac)
}

fn interface_index(ifname: &str) -> io::Result<u32> {
    let name = std::ffi::CString::new(ifname).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `name` is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if idx == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(idx)
    }
}

/// An owned raw descriptor closed on drop.
struct Fd(libc::c_int);
impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

fn socket(domain: libc::c_int, ty: libc::c_int, proto: libc::c_int) -> io::Result<Fd> {
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(Fd(fd))
    }
}

/// The packet socket for gratuitous ARPs, opened once and kept: closing
/// an AF_PACKET socket waits for an RCU grace period in the kernel
/// (`synchronize_net`, ~10-20 ms on a busy host), which blocked rctdbd's
/// loop once per address taken over and per ARP round. Protocol 0: it
/// only sends (no receive hook, nothing queues up on it); close-on-exec.
fn packet_socket() -> io::Result<libc::c_int> {
    static SOCKET: std::sync::OnceLock<Fd> = std::sync::OnceLock::new();
    if let Some(fd) = SOCKET.get() {
        return Ok(fd.0);
    }
    let fd = socket(libc::AF_PACKET, libc::SOCK_RAW, 0)?;
    // A racing initialiser (none in our single-threaded daemons) wins; ours
    // is then closed.
    Ok(SOCKET.get_or_init(|| fd).0)
}

/// Is `ifname` a loopback interface? Nothing to announce there.
fn is_loopback(ifname: &str) -> bool {
    std::fs::read_to_string(format!("/sys/class/net/{ifname}/type")).map(|t| t.trim() == "772").unwrap_or(false)
}

/// Send one gratuitous ARP request and one unsolicited ARP reply for
/// `ip` from interface `ifname`, both to the Ethernet broadcast address,
/// so that neighbours and switches learn where the address lives now.
/// Loopback interfaces are skipped.
pub fn send_gratuitous_arp(ifname: &str, ip: std::net::Ipv4Addr) -> io::Result<()> {
    if is_loopback(ifname) {
        return Ok(());
    }
    const ETH_P_ARP: u16 = 0x0806;
    let mac = interface_mac(ifname)?;
    let ifindex = interface_index(ifname)?;
    let fd = packet_socket()?;
    for (op, target_mac) in [(1u16, [0u8; 6]), (2u16, [0xff; 6])] {
        let mut f = Vec::with_capacity(42);
        f.extend_from_slice(&[0xff; 6]);
        f.extend_from_slice(&mac);
        f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
        f.extend_from_slice(&1u16.to_be_bytes()); // Ethernet
        f.extend_from_slice(&0x0800u16.to_be_bytes()); // IPv4
        f.push(6);
        f.push(4);
        f.extend_from_slice(&op.to_be_bytes());
        f.extend_from_slice(&mac);
        f.extend_from_slice(&ip.octets());
        f.extend_from_slice(&target_mac);
        f.extend_from_slice(&ip.octets());
        // SAFETY: sockaddr_ll is plain old data; zero is valid for every field.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ARP.to_be();
        sll.sll_ifindex = ifindex as i32;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&[0xff; 6]);
        // SAFETY: buffer and address are valid for the given lengths.
        let r = unsafe {
            libc::sendto(
                fd,
                f.as_ptr() as *const libc::c_void,
                f.len(),
                0,
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Send an unsolicited Neighbour Advertisement (override flag set, with
/// our link-layer address) for `ip` to all nodes on `ifname`.
pub fn send_unsolicited_na(ifname: &str, ip: std::net::Ipv6Addr) -> io::Result<()> {
    if is_loopback(ifname) {
        return Ok(());
    }
    let mac = interface_mac(ifname)?;
    let ifindex = interface_index(ifname)?;
    let fd = socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_ICMPV6)?;
    let hops: libc::c_int = 255;
    for opt in [libc::IPV6_MULTICAST_HOPS, libc::IPV6_UNICAST_HOPS] {
        // SAFETY: valid option value pointer and length.
        let r = unsafe {
            libc::setsockopt(
                fd.0,
                libc::IPPROTO_IPV6,
                opt,
                &hops as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let mut m = Vec::with_capacity(32);
    m.push(136u8); // Neighbour Advertisement
    m.push(0);
    m.extend_from_slice(&[0, 0]); // checksum: filled in by the kernel
    m.extend_from_slice(&0x2000_0000u32.to_be_bytes()); // Override
    m.extend_from_slice(&ip.octets());
    m.push(2); // target link-layer address option
    m.push(1);
    m.extend_from_slice(&mac);
    // SAFETY: sockaddr_in6 is plain old data; zero is valid for every field.
    let mut dst: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    dst.sin6_family = libc::AF_INET6 as u16;
    dst.sin6_addr.s6_addr = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    dst.sin6_scope_id = ifindex;
    // SAFETY: buffer and address are valid for the given lengths.
    let r = unsafe {
        libc::sendto(
            fd.0,
            m.as_ptr() as *const libc::c_void,
            m.len(),
            0,
            &dst as *const libc::sockaddr_in6 as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn checksum_add(mut sum: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

fn checksum_fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A bare TCP ACK with sequence and acknowledgement numbers 0, from
/// `src` (a public address of ours and the connection's server port) to
/// `dst` (the client). The client answers with a correct ACK; the new host
/// of the address has no socket for it and resets the connection, so the
/// client reconnects at once instead of waiting out its retransmissions.
pub fn send_tickle_ack(src: std::net::SocketAddr, dst: std::net::SocketAddr) -> io::Result<()> {
    use std::net::SocketAddr;
    let mut tcp = Vec::with_capacity(20);
    tcp.extend_from_slice(&src.port().to_be_bytes());
    tcp.extend_from_slice(&dst.port().to_be_bytes());
    tcp.extend_from_slice(&0u32.to_be_bytes()); // seq
    tcp.extend_from_slice(&0u32.to_be_bytes()); // ack
    tcp.push(5 << 4); // data offset: 5 words
    tcp.push(0x10); // ACK
    tcp.extend_from_slice(&1234u16.to_be_bytes()); // window
    tcp.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent
    match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            let mut pseudo = Vec::with_capacity(12);
            pseudo.extend_from_slice(&s.ip().octets());
            pseudo.extend_from_slice(&d.ip().octets());
            pseudo.extend_from_slice(&[0, 6, 0, 20]);
            let sum = checksum_fold(checksum_add(checksum_add(0, &pseudo), &tcp));
            tcp[16..18].copy_from_slice(&sum.to_be_bytes());
            let mut ip = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 255, 6, 0, 0];
            ip.extend_from_slice(&s.ip().octets());
            ip.extend_from_slice(&d.ip().octets());
            let sum = checksum_fold(checksum_add(0, &ip));
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            ip.extend_from_slice(&tcp);
            let fd = socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW)?;
            // SAFETY: sockaddr_in is plain old data; zero is valid for every field.
            let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sin.sin_family = libc::AF_INET as u16;
            sin.sin_addr.s_addr = u32::from_ne_bytes(d.ip().octets());
            // SAFETY: buffer and address are valid for the given lengths.
            let r = unsafe {
                libc::sendto(
                    fd.0,
                    ip.as_ptr() as *const libc::c_void,
                    ip.len(),
                    0,
                    &sin as *const libc::sockaddr_in as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            };
            if r < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        }
        (SocketAddr::V6(s), SocketAddr::V6(d)) => {
            let mut pseudo = Vec::with_capacity(40);
            pseudo.extend_from_slice(&s.ip().octets());
            pseudo.extend_from_slice(&d.ip().octets());
            pseudo.extend_from_slice(&20u32.to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, 6]);
            let sum = checksum_fold(checksum_add(checksum_add(0, &pseudo), &tcp));
            tcp[16..18].copy_from_slice(&sum.to_be_bytes());
            let fd = socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_TCP)?;
            // SAFETY: sockaddr_in6 is plain old data; zero is valid for every field.
            let mut from: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            from.sin6_family = libc::AF_INET6 as u16;
            from.sin6_addr.s6_addr = s.ip().octets();
            // SAFETY: valid address and length; binding fixes the source address.
            let r = unsafe {
                libc::bind(
                    fd.0,
                    &from as *const libc::sockaddr_in6 as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut to: libc::sockaddr_in6 = from;
            to.sin6_addr.s6_addr = d.ip().octets();
            to.sin6_scope_id = d.scope_id();
            // SAFETY: buffer and address are valid for the given lengths.
            let r = unsafe {
                libc::sendto(
                    fd.0,
                    tcp.as_ptr() as *const libc::c_void,
                    tcp.len(),
                    0,
                    &to as *const libc::sockaddr_in6 as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                )
            };
            if r < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        }
        _ => Err(io::Error::new(io::ErrorKind::InvalidInput, "tickle between address families")),
    }
}

#[cfg(test)]
mod checksum_tests {
    use super::*;

    #[test]
    fn ipv4_header_checksum_of_a_known_header() {
        // Example header from RFC 1071 style worked examples.
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
            0x00, 0xc7,
        ];
        assert_eq!(checksum_fold(checksum_add(0, &hdr)), 0xb861);
        // Odd lengths pad with a zero byte.
        assert_eq!(checksum_fold(checksum_add(0, &[0x01])), !0x0100);
    }
}

/// The IPv4 and IPv6 addresses on this host's interfaces (`getifaddrs`):
/// the kernel's answer to "do I hold this address?".
pub fn kernel_addrs() -> BTreeSet<IpAddr> {
    kernel_addr_ifaces().into_keys().collect()
}

/// Every local address with the interface it is on.
pub fn kernel_addr_ifaces() -> std::collections::BTreeMap<IpAddr, String> {
    let mut out = std::collections::BTreeMap::new();
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            let Some(sa) = a.address else { continue };
            let ip = match (sa.as_sockaddr_in(), sa.as_sockaddr_in6()) {
                (Some(v4), _) => IpAddr::V4(v4.ip()),
                (_, Some(v6)) => IpAddr::V6(v6.ip()),
                _ => continue,
            };
            out.entry(ip).or_insert(a.interface_name);
        }
    }
    out
}

/// Take `ip/bits` off its interface (`iface`, or wherever it is) with
/// `ip addr del`, without the event scripts: the last resort when a lease
/// has run out or rctdbd is gone. For IPv4, secondaries are promoted first
/// so that deleting a primary address does not take the others along.
pub fn remove_addr(ip: IpAddr, bits: u8, iface: Option<&str>) -> std::io::Result<()> {
    let iface = match iface.map(str::to_string).or_else(|| kernel_addr_ifaces().remove(&ip)) {
        Some(i) => i,
        None => return Ok(()),
    };
    if ip.is_ipv4() {
        let knob = format!("/proc/sys/net/ipv4/conf/{iface}/promote_secondaries");
        let _ = std::fs::write(knob, "1");
    }
    let out = std::process::Command::new("ip")
        .args(["addr", "del", &format!("{ip}/{bits}"), "dev", &iface])
        .stdin(std::process::Stdio::null())
        .output()?;
    if out.status.success() || !kernel_addrs().contains(&ip) {
        return Ok(());
    }
    let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(std::io::Error::other(format!("ip addr del {ip}/{bits} dev {iface}: {msg}")))
}

#[cfg(test)]
mod addr_tests {
    #[test]
    fn loopback_is_always_there() {
        assert!(super::kernel_addrs().contains(&"127.0.0.1".parse().unwrap()));
    }
}
