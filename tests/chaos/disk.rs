//! A small tmpfs for one node's data directory, which the suite fills to the last byte and then
//! frees again: a full disk on one node, for real (the node's writes fail with ENOSPC).

use std::io::Write;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

pub struct SmallDisk {
    mount: PathBuf,
    filler: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `mib` MiB at `at` (created if missing). Needs root.
    pub fn mount(at: &Path, mib: u32) -> SmallDisk {
        std::fs::create_dir_all(at).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount tmpfs at {}", at.display());
        SmallDisk {
            mount: at.to_path_buf(),
            filler: at.join("filler"),
        }
    }

    /// Writes a file until the disk is full; returns the bytes it took.
    pub fn fill(&self) -> u64 {
        let mut file = std::fs::File::create(&self.filler).expect("create filler");
        let chunk = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        // A tmpfs is at most a few hundred MiB here: the loop ends at ENOSPC long before this bound.
        for _ in 0..1_000_000 {
            match file.write(&chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => written += n as u64,
            }
        }
        // The last bytes: a smaller write may still fit.
        for _ in 0..64 * 1024 {
            match file.write(&[0u8]) {
                Ok(1) => written += 1,
                _ => break,
            }
        }
        written
    }

    pub fn free(&self) {
        let _ = std::fs::remove_file(&self.filler);
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: detaches now even if the node still has files open.
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}
