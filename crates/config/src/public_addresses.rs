//! `public_addresses`: the public (floating) IPs this node may host.
//!
//! One entry per line: `IP/maskbits iface[,iface...]`, fields separated by
//! spaces or tabs. Lines starting with `#` (after leading whitespace) and
//! blank lines are skipped. IPv4 and IPv6.
//!
//! Stricter than CTDB, which ignores extra fields: a field after the
//! interface list is an error unless it starts a `#` comment, because
//! `eth0, eth1` (with a space) would otherwise silently drop `eth1`.
//!
//! Invariants of [`PublicAddresses`]: every entry has an explicit prefix
//! length (a bare IP is refused, where ipnetwork would read it as /32), at
//! least one interface, interface names that Linux accepts (1 to 15 bytes,
//! no `/`, `:` or whitespace, no repeats in one entry), and no IP appears
//! twice.

use crate::error::{read_optional, ConfigError};
use ipnetwork::IpNetwork;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub const MAX_IFACE_LEN: usize = 15;

/// One public address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicAddress {
    /// The address and its prefix length (`ip()` is the address itself,
    /// host bits kept).
    pub net: IpNetwork,
    /// Interfaces that may carry it, in file order, never empty.
    pub ifaces: Vec<String>,
    /// 1-based line in the file.
    pub line: usize,
}

/// The parsed `public_addresses` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicAddresses {
    /// The file it was read from (for messages).
    pub file: PathBuf,
    /// Addresses in file order.
    pub addrs: Vec<PublicAddress>,
}

fn parse_net(s: &str) -> Result<IpNetwork, String> {
    let bad = || format!("Badly formed public address {s}: expected IP/maskbits");
    let Some((ip, bits)) = s.split_once('/') else {
        return Err(format!("Missing /maskbits in public address {s}"));
    };
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    if bits.is_empty() || bits.len() > 3 || !bits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let bits: u8 = bits.parse().map_err(|_| bad())?;
    IpNetwork::new(ip, bits).map_err(|_| {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        format!("Invalid mask bits {bits} in public address {s}: at most {max}")
    })
}

fn check_iface(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Empty interface name".to_string());
    }
    if name.len() > MAX_IFACE_LEN {
        return Err(format!("Interface name {name} is longer than {MAX_IFACE_LEN} characters"));
    }
    if name == "." || name == ".." || name.chars().any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(format!("Invalid interface name {name}"));
    }
    Ok(())
}

fn parse_line(t: &str) -> Result<(IpNetwork, Vec<String>), String> {
    let mut fields = t.split([' ', '\t']).filter(|f| !f.is_empty());
    let net = parse_net(fields.next().unwrap_or_default())?;
    let Some(list) = fields.next().filter(|f| !f.starts_with('#')) else {
        return Err("No interface specified".to_string());
    };
    if let Some(extra) = fields.next().filter(|f| !f.starts_with('#')) {
        return Err(format!(
            "Unexpected field {extra} after the interface list (separate interfaces with commas, no spaces)"
        ));
    }
    let mut ifaces: Vec<String> = Vec::new();
    for name in list.split(',') {
        check_iface(name)?;
        if ifaces.iter().any(|i| i == name) {
            return Err(format!("Interface {name} listed twice"));
        }
        ifaces.push(name.to_string());
    }
    Ok((net, ifaces))
}

impl PublicAddresses {
    /// Parse the text of a public addresses file; `file` is used in
    /// messages only. Returns the first error.
    pub fn parse(text: &str, file: &Path) -> Result<PublicAddresses, ConfigError> {
        let (p, mut errors) = PublicAddresses::parse_all(text, file);
        if errors.is_empty() {
            Ok(p)
        } else {
            Err(errors.swap_remove(0))
        }
    }

    /// Parse, collecting every error.
    pub(crate) fn parse_all(text: &str, file: &Path) -> (PublicAddresses, Vec<ConfigError>) {
        let mut addrs: Vec<PublicAddress> = Vec::new();
        let mut errors = Vec::new();
        let mut seen: HashMap<IpAddr, usize> = HashMap::new();
        for (idx, raw) in text.lines().enumerate() {
            let line = idx + 1;
            let t = raw.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            match parse_line(t) {
                Ok((net, ifaces)) => {
                    let ip = net.ip();
                    if let Some(prev) = seen.get(&ip) {
                        errors.push(ConfigError::line_err(
                            file,
                            line,
                            format!("Duplicate public IP address {ip} (also on line {prev})"),
                        ));
                        continue;
                    }
                    seen.insert(ip, line);
                    addrs.push(PublicAddress { net, ifaces, line });
                }
                Err(msg) => errors.push(ConfigError::line_err(file, line, msg)),
            }
        }
        (PublicAddresses { file: file.to_path_buf(), addrs }, errors)
    }

    /// Read and parse a public addresses file. A missing file gives no
    /// addresses.
    pub fn load(file: &Path) -> Result<PublicAddresses, ConfigError> {
        match read_optional(file)? {
            Some(text) => PublicAddresses::parse(&text, file),
            None => Ok(PublicAddresses { file: file.to_path_buf(), addrs: Vec::new() }),
        }
    }

    /// Number of addresses.
    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    /// True if there are no addresses.
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    /// The entry for an IP, if listed.
    pub fn get(&self, ip: IpAddr) -> Option<&PublicAddress> {
        self.addrs.iter().find(|a| a.net.ip() == ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(p: &PublicAddresses) -> String {
        p.addrs.iter().map(|a| format!("{}@{}={}", a.net, a.line, a.ifaces.join(","))).collect::<Vec<_>>().join(" ")
    }

    /// A text block, `=> ` and the rendered entries or `! first error`.
    const CASES: &str = "198.51.100.1/24 eth0
198.51.100.2/24 eth0,eth1
=> 198.51.100.1/24@1=eth0 198.51.100.2/24@2=eth0,eth1
---
# comment

  \t198.51.100.1/24\teth0  
    # indented comment
2001:db8::10/64 eth1
=> 198.51.100.1/24@3=eth0 2001:db8::10/64@5=eth1
---
198.51.100.1/24 eth0 # web server
=> 198.51.100.1/24@1=eth0
---
198.51.100.1/32 eth0
198.51.100.2/0 eth0
=> 198.51.100.1/32@1=eth0 198.51.100.2/0@2=eth0
---
=> 
---
198.51.100.1 eth0
=> ! pa:1: Missing /maskbits in public address 198.51.100.1
---
198.51.100.1/24
=> ! pa:1: No interface specified
---
198.51.100.1/24 # eth0
=> ! pa:1: No interface specified
---
198.51.100.1/33 eth0
=> ! pa:1: Invalid mask bits 33 in public address 198.51.100.1/33: at most 32
---
2001:db8::1/129 eth0
=> ! pa:1: Invalid mask bits 129 in public address 2001:db8::1/129: at most 128
---
198.51.100.1/ eth0
=> ! pa:1: Badly formed public address 198.51.100.1/: expected IP/maskbits
---
198.51.100.1/+24 eth0
=> ! pa:1: Badly formed public address 198.51.100.1/+24: expected IP/maskbits
---
198.51.100.1/2400 eth0
=> ! pa:1: Badly formed public address 198.51.100.1/2400: expected IP/maskbits
---
198.51.100.x/24 eth0
=> ! pa:1: Badly formed public address 198.51.100.x/24: expected IP/maskbits
---
198.51.100.1/24/8 eth0
=> ! pa:1: Badly formed public address 198.51.100.1/24/8: expected IP/maskbits
---
198.51.100.1/24 eth0, eth1
=> ! pa:1: Unexpected field eth1 after the interface list (separate interfaces with commas, no spaces)
---
198.51.100.1/24 eth0,,eth1
=> ! pa:1: Empty interface name
---
198.51.100.1/24 eth0,
=> ! pa:1: Empty interface name
---
198.51.100.1/24 abcdefghijklmnop
=> ! pa:1: Interface name abcdefghijklmnop is longer than 15 characters
---
198.51.100.1/24 abcdefghijklmno
=> 198.51.100.1/24@1=abcdefghijklmno
---
198.51.100.1/24 eth0:1
=> ! pa:1: Invalid interface name eth0:1
---
198.51.100.1/24 a/b
=> ! pa:1: Invalid interface name a/b
---
198.51.100.1/24 ..
=> ! pa:1: Invalid interface name ..
---
198.51.100.1/24 eth0,eth0
=> ! pa:1: Interface eth0 listed twice
---
198.51.100.1/24 eth0
198.51.100.2/24 eth0
198.51.100.1/25 eth1
=> ! pa:3: Duplicate public IP address 198.51.100.1 (also on line 1)
---
2001:db8::1/64 eth0
2001:DB8:0::1/64 eth1
=> ! pa:2: Duplicate public IP address 2001:db8::1 (also on line 1)
";

    #[test]
    fn table() {
        for case in CASES.split("---\n") {
            let (text, want) = case.rsplit_once("=> ").expect("case has =>");
            let want = want.trim_end();
            let got = match PublicAddresses::parse(text, Path::new("pa")) {
                Ok(p) => render(&p),
                Err(e) => format!("! {e}"),
            };
            assert_eq!(got, want, "input:\n{text}");
        }
    }

    #[test]
    fn all_errors_collected() {
        let (p, errs) =
            PublicAddresses::parse_all("1.2.3.4 eth0\n198.51.100.1/24 eth0\n198.51.100.2/24\n", Path::new("pa"));
        let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(msgs, vec!["pa:1: Missing /maskbits in public address 1.2.3.4", "pa:3: No interface specified"]);
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn host_bits_kept_and_lookup() {
        let p = PublicAddresses::parse("198.51.100.7/24 eth0\n", Path::new("pa")).unwrap();
        let a = p.get("198.51.100.7".parse().unwrap()).unwrap();
        assert_eq!(a.net.ip(), "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_eq!(a.net.prefix(), 24);
        assert!(p.get("198.51.100.8".parse().unwrap()).is_none());
    }

    #[test]
    fn load_missing_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("public_addresses");
        let p = PublicAddresses::load(&f).unwrap();
        assert!(p.is_empty());
        assert_eq!(p.file, f);
        std::fs::write(&f, "198.51.100.1/24 eth0\nbad\n").unwrap();
        let e = PublicAddresses::load(&f).unwrap_err();
        assert_eq!(e.to_string(), format!("{}:2: Missing /maskbits in public address bad", f.display()));
    }
}
