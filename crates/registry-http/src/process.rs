//! This process's own resources, as every Prometheus exporter reports them (`process_*`): CPU
//! time, resident and virtual memory, open and allowed file descriptors, start time.
//!
//! Read from `/proc/self` on each scrape; elsewhere than Linux [`ProcessStats::read`] finds
//! nothing and the series are simply absent. The parsing is pure and unit-tested on sample text.

use std::fs;

/// Clock ticks per second in `/proc/*/stat` (`USER_HZ`): fixed at 100 by the kernel's user ABI
/// on every architecture we build for, so no `sysconf` call is needed.
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading; each field is `None` when its file was missing or unreadable.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProcessStats {
    /// User plus system CPU time, in seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident set size (`VmRSS`), in bytes.
    pub resident_bytes: Option<u64>,
    /// Virtual memory size, in bytes.
    pub virtual_bytes: Option<u64>,
    /// Entries in `/proc/self/fd`.
    pub open_fds: Option<u64>,
    /// The soft limit on open files (`None` when unlimited).
    pub max_fds: Option<u64>,
    /// When the process started, in seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
}

impl ProcessStats {
    /// Reads `/proc/self` now.
    pub fn read() -> Self {
        let stat = fs::read_to_string("/proc/self/stat").ok();
        let stat = stat.as_deref().and_then(parse_stat);
        let boot_time = fs::read_to_string("/proc/stat").ok().and_then(|s| parse_boot_time(&s));
        Self {
            cpu_seconds: stat.as_ref().map(|s| s.cpu_ticks as f64 / TICKS_PER_SECOND),
            resident_bytes: fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| parse_resident(&s)),
            virtual_bytes: stat.as_ref().map(|s| s.virtual_bytes),
            open_fds: fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64),
            max_fds: fs::read_to_string("/proc/self/limits")
                .ok()
                .and_then(|s| parse_max_files(&s)),
            start_time_seconds: stat
                .zip(boot_time)
                .map(|(s, boot)| boot as f64 + s.start_ticks as f64 / TICKS_PER_SECOND),
        }
    }
}

/// The fields we use from `/proc/self/stat`.
#[derive(Debug, PartialEq)]
struct Stat {
    /// `utime + stime`.
    cpu_ticks: u64,
    /// `starttime`: ticks after boot.
    start_ticks: u64,
    /// `vsize`.
    virtual_bytes: u64,
}

/// Parses `/proc/self/stat`. The command name (field 2) may hold spaces and parentheses, so the
/// fields are counted from after its last `)`: the first there is field 3 (`state`).
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field n of proc(5) is at index n - 3.
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        cpu_ticks: field(14)? + field(15)?,
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
    })
}

/// `btime` in `/proc/stat`: boot time in seconds since the epoch.
fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// `VmRSS:   1234 kB` in `/proc/self/status`, in bytes.
fn parse_resident(text: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let mut parts = line.split_whitespace();
    let kib: u64 = parts.next()?.parse().ok()?;
    (parts.next() == Some("kB")).then_some(kib * 1024)
}

/// The soft limit of `Max open files` in `/proc/self/limits`.
fn parse_max_files(text: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        // A command name with a space and a parenthesis must not shift the fields.
        let text = "4242 (reg d) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0 12345 \
                    104857600 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            parse_stat(text),
            Some(Stat {
                cpu_ticks: 300,
                start_ticks: 12345,
                virtual_bytes: 104_857_600,
            })
        );
        assert_eq!(parse_stat("4242 (truncated"), None);
    }

    #[test]
    fn status_limits_and_boot_time() {
        let status = "Name:\tregistryd\nVmSize:\t  102400 kB\nVmRSS:\t    2048 kB\nThreads:\t9\n";
        assert_eq!(parse_resident(status), Some(2048 * 1024));
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max cpu time              unlimited            unlimited            seconds   \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_max_files(limits), Some(1024));
        let unlimited = "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_max_files(unlimited), None);
        assert_eq!(
            parse_boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_000)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads_completely() {
        let stats = ProcessStats::read();
        assert!(stats.cpu_seconds.is_some());
        assert!(stats.resident_bytes.unwrap() > 0);
        assert!(stats.virtual_bytes.unwrap() >= stats.resident_bytes.unwrap());
        assert!(stats.open_fds.unwrap() >= 3);
        assert!(stats.start_time_seconds.unwrap() > 1_600_000_000.0);
    }
}
