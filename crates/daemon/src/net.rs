//! Socket setup: the node-transport listener (with auto-bind) and
//! outgoing connections bound to this node's own address, so that peers
//! recognise us by source address as CTDB's do.

use log::{debug, warn};
use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrStorage};
use rctdb_config::Nodes;
use rctdb_protocol::Pnn;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};

/// Bind the transport listener on `addr:port`.
pub fn listen(addr: IpAddr, port: u16) -> io::Result<TcpListener> {
    let l = TcpListener::bind(SocketAddr::new(addr, port))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Find this node's address: the first non-deleted `nodes` entry that we
/// can bind. An address that is not local (EADDRNOTAVAIL) or already taken
/// by another daemon on this host (EADDRINUSE) is skipped.
pub fn auto_bind(nodes: &Nodes, port: u16) -> Result<(Pnn, IpAddr, TcpListener), String> {
    if nodes.entries.iter().all(|e| e.addr.is_none()) {
        return Err(format!(
            "No nodes available to attempt bind to - is the nodes file {} empty?",
            nodes.file.display()
        ));
    }
    for e in &nodes.entries {
        let Some(addr) = e.addr else { continue };
        match listen(addr, port) {
            Ok(l) => return Ok((e.pnn, addr, l)),
            Err(err) if err.raw_os_error() == Some(libc_eaddrnotavail()) => {
                debug!("Node address {addr} is not local")
            }
            Err(err) if err.kind() == io::ErrorKind::AddrInUse => {
                debug!("Node address {addr} port {port} is in use, trying the next one")
            }
            Err(err) => warn!("Failed to bind to {addr}:{port}: {err}"),
        }
    }
    Err(format!("Unable to bind to any node address in {} - giving up", nodes.file.display()))
}

fn libc_eaddrnotavail() -> i32 {
    Errno::EADDRNOTAVAIL as i32
}

/// Start a non-blocking connect from `local` (port 0) to `remote`.
/// Completion is signalled by writability; check it with `take_error`.
pub fn connect_from(local: IpAddr, remote: SocketAddr) -> io::Result<mio::net::TcpStream> {
    let family = if local.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    let fd = socket::socket(family, SockType::Stream, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, None)?;
    use std::os::fd::AsRawFd;
    socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(SocketAddr::new(local, 0)))?;
    match socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(remote)) {
        Ok(()) | Err(Errno::EINPROGRESS) => {}
        Err(e) => return Err(e.into()),
    }
    let stream = std::net::TcpStream::from(fd);
    stream.set_nodelay(true)?;
    Ok(mio::net::TcpStream::from_std(stream))
}
