//! Which addresses a network probe may reach: never loopback, link-local
//! (cloud metadata included), unspecified, multicast, broadcast or private
//! ranges, unless the operator allow-listed them (`[network] allow`,
//! `SKYNET_NETWORK_ALLOW`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The setting that widens what probes may reach, named in refusals.
pub const ALLOW_SETTING: &str = "[network] allow / SKYNET_NETWORK_ALLOW";

/// An address range, `10.0.0.0/8` or `fe80::/10` (a single address is a
/// range of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parse `ADDR` or `ADDR/PREFIX`; `None` when it is neither.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (text.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    /// Does the range hold `ip`? An IPv4 range also holds the IPv4-mapped
    /// IPv6 form of its addresses.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let (whole, rest) = ((prefix / 8) as usize, prefix % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[whole] & mask == b[whole] & mask
    }
}

/// An IPv4-mapped (`::ffff:a.b.c.d`) or IPv4-compatible IPv6 address as
/// the IPv4 address it stands for; anything else unchanged.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Why `ip` is closed to probes by default, or `None` for a public
/// address.
pub fn blocked_range(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(match o {
        [127, ..] => "loopback (127.0.0.0/8)",
        [0, ..] => "unspecified (0.0.0.0/8)",
        [169, 254, ..] => "link-local (169.254.0.0/16, cloud metadata)",
        [10, ..] => "private (10.0.0.0/8)",
        [172, b, ..] if b & 0xf0 == 16 => "private (172.16.0.0/12)",
        [192, 168, ..] => "private (192.168.0.0/16)",
        [100, b, ..] if b & 0xc0 == 64 => "shared address space (100.64.0.0/10)",
        [192, 0, 0, _] => "IETF protocol assignments (192.0.0.0/24)",
        [198, b, ..] if b & 0xfe == 18 => "benchmarking (198.18.0.0/15)",
        [a, ..] if (224..240).contains(&a) => "multicast (224.0.0.0/4)",
        [a, ..] if a >= 240 => "reserved or broadcast (240.0.0.0/4)",
        _ => return None,
    })
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(if ip.is_loopback() {
        "loopback (::1)"
    } else if ip.is_unspecified() {
        "unspecified (::)"
    } else if s[0] & 0xffc0 == 0xfe80 {
        "link-local (fe80::/10)"
    } else if s[0] & 0xffc0 == 0xfec0 {
        "site-local (fec0::/10)"
    } else if s[0] & 0xfe00 == 0xfc00 {
        "unique local (fc00::/7)"
    } else if s[0] & 0xff00 == 0xff00 {
        "multicast (ff00::/8)"
    } else if s[..6] == [0, 0, 0, 0, 0, 0] {
        // IPv4-compatible (::a.b.c.d, deprecated): never a public route.
        "IPv4-compatible (::/96)"
    } else if s[0] == 0x64 && s[1] == 0xff9b {
        // NAT64 hides an IPv4 address the check cannot see.
        "NAT64 (64:ff9b::/96)"
    } else if s[0] == 0x2002 {
        // 6to4 carries an IPv4 address (2002:7f00:1:: is 127.0.0.1).
        "6to4 (2002::/16)"
    } else if s[0] == 0x2001 && s[1] == 0 {
        // Teredo carries an IPv4 server and client address.
        "Teredo (2001::/32)"
    } else if s[0] & 0xe000 != 0x2000 {
        // Only global unicast is public: whatever else the registry holds
        // or will assign is closed until an operator opens it.
        "not global unicast (outside 2000::/3)"
    } else {
        return None;
    })
}

/// What the operator opened to probes: address ranges and host names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkAllow {
    /// Ranges probes may reach even when private, loopback or link-local.
    pub ranges: Vec<Cidr>,
    /// Host names (lower case, exact) whose addresses probes may reach
    /// whatever they resolve to.
    pub hosts: Vec<String>,
}

impl NetworkAllow {
    /// Parse the entries of `[network] allow`: ranges (`10.0.0.0/8`),
    /// addresses, or host names.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> crate::Result<NetworkAllow> {
        let mut allow = NetworkAllow::default();
        for entry in entries {
            let e = entry.as_ref().trim();
            if e.is_empty() {
                continue;
            }
            if let Some(cidr) = Cidr::parse(e) {
                allow.ranges.push(cidr);
            } else if e.contains('/') || !is_host_name(e) {
                return Err(crate::Error::Config(format!(
                    "network allow entry {e:?} is neither an address range (10.0.0.0/8, fd00::/8), an address nor a host name"
                )));
            } else {
                allow
                    .hosts
                    .push(e.trim_end_matches('.').to_ascii_lowercase());
            }
        }
        Ok(allow)
    }

    /// May a probe of `host` connect to `ip`? `Err` says why not, naming
    /// the address, its range and the setting that would open it.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), String> {
        self.check_for(host, ip, "probes", ALLOW_SETTING, "allow")
    }

    /// [`NetworkAllow::check`] for another user of the same ranges
    /// (`webhooks`), whose refusal names `who`, the `setting` that opens
    /// an address, and the file `key` of that setting.
    pub fn check_for(
        &self,
        host: &str,
        ip: IpAddr,
        who: &str,
        setting: &str,
        key: &str,
    ) -> Result<(), String> {
        let Some(range) = blocked_range(ip) else {
            return Ok(());
        };
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        if self.ranges.iter().any(|c| c.contains(ip)) || self.hosts.contains(&name) {
            return Ok(());
        }
        let target = if host == ip.to_string() {
            ip.to_string()
        } else {
            format!("{host} resolves to {ip}")
        };
        Err(format!(
            "{target}, a {range} address, which {who} may not reach; an operator may allow it with {setting} (e.g. {key} = [\"{}\"])",
            canonical(ip)
        ))
    }
}

/// A DNS name: labels of letters, digits, `-` and `_`, dot-separated.
pub fn is_host_name(name: &str) -> bool {
    let n = name.trim_end_matches('.');
    !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect(s)
    }

    #[test]
    fn every_closed_range_is_blocked_and_public_addresses_are_not() {
        for (addr, range) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("0.0.0.0", "unspecified"),
            ("169.254.169.254", "link-local"),
            ("169.254.0.1", "link-local"),
            ("10.1.2.3", "private (10."),
            ("172.16.0.1", "172.16.0.0/12"),
            ("172.31.255.255", "172.16.0.0/12"),
            ("192.168.1.1", "192.168"),
            ("100.64.0.1", "100.64.0.0/10"),
            ("100.127.255.255", "100.64.0.0/10"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("ff02::1", "multicast"),
            // IPv4-mapped forms are judged as the IPv4 address.
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:192.168.0.1", "private"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("64:ff9b::a00:1", "NAT64"),
            ("2002:7f00:1::", "6to4"),
            ("2001:0:4136:e378::1", "Teredo"),
            ("100::1", "not global unicast"),
            ("4000::1", "not global unicast"),
        ] {
            let why = blocked_range(ip(addr)).unwrap_or_else(|| panic!("{addr} is not blocked"));
            assert!(why.contains(range), "{addr}: {why}");
        }
        for addr in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.0.1",
            "2606:4700:4700::1111",
            "::ffff:1.1.1.1",
            "2001:db8::1",
        ] {
            assert_eq!(blocked_range(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn the_allow_list_opens_ranges_addresses_and_names() {
        let allow =
            NetworkAllow::parse(&["10.0.0.0/8", "127.0.0.1", "Status.Internal.", "fd00::/8"])
                .expect("parses");
        assert!(allow.check("10.9.8.7", ip("10.9.8.7")).is_ok());
        assert!(
            allow.check("x", ip("::ffff:10.9.8.7")).is_ok(),
            "mapped form"
        );
        assert!(allow.check("127.0.0.1", ip("127.0.0.1")).is_ok());
        assert!(allow.check("127.0.0.2", ip("127.0.0.2")).is_err(), "a /32");
        assert!(allow.check("status.internal", ip("192.168.4.4")).is_ok());
        assert!(allow.check("fd00::5", ip("fd00::5")).is_ok());
        assert!(allow.check("fd01::5", ip("fc01::5")).is_err());
        let e = allow
            .check("metadata.google.internal", ip("169.254.169.254"))
            .expect_err("metadata stays closed");
        assert!(
            e.contains("metadata.google.internal resolves to 169.254.169.254"),
            "{e}"
        );
        assert!(e.contains("link-local"), "{e}");
        assert!(e.contains(ALLOW_SETTING), "{e}");
        let none = NetworkAllow::default();
        assert!(none.check("example.com", ip("93.184.216.34")).is_ok());
        let e = none
            .check("127.0.0.1", ip("127.0.0.1"))
            .expect_err("loopback");
        assert!(e.starts_with("127.0.0.1, a loopback"), "{e}");
    }

    #[test]
    fn bad_allow_entries_are_refused_by_name() {
        for bad in ["10.0.0.0/33", "not a host", "::1/129", "-x"] {
            let e = NetworkAllow::parse(&[bad]).expect_err(bad).to_string();
            assert!(e.contains(bad), "{e}");
        }
    }
}
