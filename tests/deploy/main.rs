//! The deployment files under `deploy/` are checked here: they parse, the three nodes of each
//! form fit together (distinct ids, one peer list naming every node, probes on ports that
//! exist), the systemd unit passes `systemd-analyze verify` when the tool is installed, every
//! setting the env files use is a registryd setting, and the Prometheus rules and Grafana
//! dashboard only name series a running node exports. The documents' links and the files
//! `docs/architecture.md` names exist.

mod docs;
mod files;
mod series;
