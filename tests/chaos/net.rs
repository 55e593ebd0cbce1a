//! A network of Linux network namespaces for the chaos tests: one namespace per node, every two
//! joined by their own veth link (a full mesh), and one veth link from the test's namespace to
//! each node for the clients. Links between nodes are cut and healed one by one.
//!
//! Addresses, with `T` this mesh's tag: node `i` listens on `10.T.0.i` (on its loopback); the
//! client link to node `i` is `10.T.(100+i).0/24` (test side `.1`, node side `.2`). Node-to-node
//! traffic goes over the pair's own link, with a host route per peer. Each node advertises its
//! Raft port as [`PROXY_PORT`], where the suite's delaying proxy listens inside its namespace
//! (see `proxy.rs`), in front of the real [`RAFT_PORT`].
//!
//! Cutting a link drops its frames silently, as a pulled cable or a dead switch port does: both
//! ends point the other's address at a hardware address nobody has, so nothing arrives and no
//! error comes back (connections hang until their timeouts, the hard case). Healing removes those
//! entries; the link itself stays up, so traffic resumes at once. (`tc netem` and dummy devices
//! are not available in every sandbox; neighbour entries are.) Packet loss, random or one way,
//! is a firewall rule in the receiving or sending namespace (`iptables`, `-m statistic`).
//!
//! Everything is deleted on drop; namespaces left by an earlier run that died are deleted at start.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering;

use crate::proxy::Route;
use crate::support::Host;

/// Where each node's Raft server listens, on the node's address.
pub const RAFT_PORT: u16 = 7100;
/// Where the proxy in front of it listens, on the same address: the Raft address peers know.
pub const PROXY_PORT: u16 = 7200;

/// Every namespace this suite creates starts with this.
const PREFIX: &str = "regchaos";
/// The hardware address cut links send to: locally administered, never assigned to a device.
const NOWHERE: &str = "02:00:5e:00:de:ad";

/// Meshes made by this process so far: each gets its own names and addresses, since a deleted
/// namespace (and its links) lingers while anything still holds it.
static MADE: AtomicU32 = AtomicU32::new(0);

pub struct Mesh {
    tag: u8,
    /// This mesh's number in this process.
    serial: u32,
    nodes: usize,
    cut: BTreeSet<(usize, usize)>,
    /// Nodes whose namespace has packet-dropping firewall rules.
    filtered: BTreeSet<usize>,
}

/// Runs `iptables ARGS` inside node `node`'s namespace, panicking with its error output.
fn iptables(namespace: &str, args: &[&str]) {
    let out = Command::new("ip")
        .args(["netns", "exec", namespace, "iptables"])
        .args(args)
        .output()
        .expect("run iptables (Debian's iptables)");
    assert!(
        out.status.success(),
        "iptables {} in {namespace}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Runs `ip ARGS`, panicking with its error output if it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

impl Mesh {
    /// Builds namespaces and links for `nodes` nodes (at most 9). Needs root.
    pub fn new(nodes: usize) -> Mesh {
        assert!((1..=9).contains(&nodes), "1 to 9 nodes");
        remove_leftovers();
        let pid = std::process::id();
        let serial = MADE.fetch_add(1, Ordering::SeqCst);
        // Second octet: from the pid and the serial, so two test processes at once, or two
        // meshes one after the other, do not collide.
        let tag = 16 + ((pid + 37 * serial) % 200) as u8;
        let mesh = Mesh {
            tag,
            serial,
            nodes,
            cut: BTreeSet::new(),
            filtered: BTreeSet::new(),
        };
        for i in 1..=nodes {
            let ns = mesh.namespace(i);
            ip(&["netns", "add", &ns]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/32", mesh.address(i)),
                "dev",
                "lo",
            ]);
            // The client link.
            let outside = mesh.client_link(i);
            ip(&[
                "link", "add", &outside, "type", "veth", "peer", "name", "client", "netns", &ns,
            ]);
            ip(&["addr", "add", &format!("10.{tag}.{}.1/24", 100 + i), "dev", &outside]);
            ip(&["link", "set", &outside, "up"]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("10.{tag}.{}.2/24", 100 + i),
                "dev",
                "client",
            ]);
            ip(&["-n", &ns, "link", "set", "client", "up"]);
            ip(&[
                "route",
                "add",
                &format!("{}/32", mesh.address(i)),
                "via",
                &format!("10.{tag}.{}.2", 100 + i),
            ]);
        }
        for i in 1..=nodes {
            for j in i + 1..=nodes {
                let (a, b) = (mesh.namespace(i), mesh.namespace(j));
                let (to_j, to_i) = (format!("m{j}"), format!("m{i}"));
                ip(&[
                    "-n", &a, "link", "add", &to_j, "type", "veth", "peer", "name", &to_i, "netns", &b,
                ]);
                ip(&["-n", &a, "link", "set", &to_j, "up"]);
                ip(&["-n", &b, "link", "set", &to_i, "up"]);
                let (addr_i, addr_j) = (mesh.address(i), mesh.address(j));
                ip(&[
                    "-n",
                    &a,
                    "route",
                    "add",
                    &format!("{addr_j}/32"),
                    "dev",
                    &to_j,
                    "src",
                    &addr_i,
                ]);
                ip(&[
                    "-n",
                    &b,
                    "route",
                    "add",
                    &format!("{addr_i}/32"),
                    "dev",
                    &to_i,
                    "src",
                    &addr_j,
                ]);
            }
        }
        mesh
    }

    pub fn namespace(&self, node: usize) -> String {
        format!("{PREFIX}{}-{}-{node}", std::process::id(), self.serial)
    }

    fn client_link(&self, node: usize) -> String {
        format!("rc{}c{node}", self.tag)
    }

    /// Node `node`'s address (1-based).
    pub fn address(&self, node: usize) -> String {
        format!("10.{}.0.{node}", self.tag)
    }

    /// Where the nodes listen: HTTP on 8761 and Raft on [`RAFT_PORT`] at each node's own
    /// address, advertising the proxy's port.
    pub fn hosts(&self) -> Vec<Host> {
        (1..=self.nodes)
            .map(|i| Host {
                http: format!("{}:8761", self.address(i)),
                raft: format!("{}:{RAFT_PORT}", self.address(i)),
                advertise_raft: Some(format!("{}:{PROXY_PORT}", self.address(i))),
                netns: Some(self.namespace(i)),
            })
            .collect()
    }

    /// One proxy per node: listening on its advertised Raft address inside its namespace,
    /// forwarding to its real Raft port (from the test's namespace, over the client link).
    pub fn proxy_routes(&self) -> Vec<Route> {
        (1..=self.nodes)
            .map(|i| Route {
                namespace: Some(self.namespace(i)),
                listen: format!("{}:{PROXY_PORT}", self.address(i)).parse().unwrap(),
                upstream: format!("{}:{RAFT_PORT}", self.address(i)).parse().unwrap(),
            })
            .collect()
    }

    /// Sets what reaches `peer` from `node` over their link: nothing, or the real peer again.
    fn point(&self, node: usize, peer: usize, cut: bool) {
        let (ns, dev, to) = (self.namespace(node), format!("m{peer}"), self.address(peer));
        if cut {
            ip(&[
                "-n",
                &ns,
                "neigh",
                "replace",
                &to,
                "dev",
                &dev,
                "lladdr",
                NOWHERE,
                "nud",
                "permanent",
            ]);
        } else {
            ip(&["-n", &ns, "neigh", "del", &to, "dev", &dev]);
        }
    }

    /// Cuts the link between nodes `a` and `b` (1-based), both ways.
    pub fn cut(&mut self, a: usize, b: usize) {
        let pair = (a.min(b), a.max(b));
        if self.cut.insert(pair) {
            self.point(a, b, true);
            self.point(b, a, true);
        }
    }

    /// Heals the link between `a` and `b`.
    pub fn heal(&mut self, a: usize, b: usize) {
        let pair = (a.min(b), a.max(b));
        if self.cut.remove(&pair) {
            self.point(a, b, false);
            self.point(b, a, false);
        }
    }

    /// Cuts every link between `side` and the other nodes.
    pub fn isolate(&mut self, side: &[usize]) {
        for &a in side {
            for b in 1..=self.nodes {
                if !side.contains(&b) {
                    self.cut(a, b);
                }
            }
        }
    }

    pub fn heal_all(&mut self) {
        let pairs: Vec<(usize, usize)> = self.cut.iter().copied().collect();
        for (a, b) in pairs {
            self.heal(a, b);
        }
        for node in std::mem::take(&mut self.filtered) {
            let ns = self.namespace(node);
            iptables(&ns, &["-F", "INPUT"]);
            iptables(&ns, &["-F", "OUTPUT"]);
        }
    }

    /// Every node drops each packet from every other node with probability `share` (on
    /// arrival, so each direction of each link loses its own share): TCP retransmits, RPCs
    /// slow down and some time out.
    pub fn lose_randomly(&mut self, share: f64) {
        let share = format!("{share}");
        for node in 1..=self.nodes {
            let ns = self.namespace(node);
            for peer in (1..=self.nodes).filter(|p| *p != node) {
                let from = self.address(peer);
                let rule = [
                    "-A",
                    "INPUT",
                    "-s",
                    &from,
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    &share,
                    "-j",
                    "DROP",
                ];
                iptables(&ns, &rule);
            }
            self.filtered.insert(node);
        }
    }

    /// Drops everything node `from` sends to node `to`, while `to`'s packets still reach `from`:
    /// a one-way cut (a broken transmit path, an asymmetric firewall).
    pub fn cut_one_way(&mut self, from: usize, to: usize) {
        let ns = self.namespace(from);
        let dest = self.address(to);
        iptables(&ns, &["-A", "OUTPUT", "-d", &dest, "-j", "DROP"]);
        self.filtered.insert(from);
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        for i in 1..=self.nodes {
            // Deleting a namespace deletes its ends of every link, and so the links.
            let _ = Command::new("ip").args(["netns", "del", &self.namespace(i)]).status();
        }
    }
}

/// Deletes namespaces of this suite whose test process is gone.
fn remove_leftovers() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or_default();
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}
