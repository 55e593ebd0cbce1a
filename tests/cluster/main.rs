//! Cluster tests: three (or more) real `registryd` processes on loopback, one module per
//! scenario. Each test owns its processes and temporary data, and bounds every wait.

mod client_driver;
mod support;
#[path = "../common/ws_events.rs"]
mod ws_events;

mod auth;
mod batching;
mod catch_up;
mod dashboard;
mod eureka_clients;
mod failover;
mod federation;
mod formation;
mod heavy_reads;
mod idle_connections;
mod leases;
mod log_budget;
mod membership;
mod metrics;
mod nacos_clients;
mod nacos_cross_protocol;
mod nacos_federation;
mod nacos_grpc;
mod nacos_node_client;
mod nacos_views;
mod prometheus_sd;
mod registryctl;
mod removed_member;
mod renewal_times;
mod replay;
mod restart;
mod restore;
mod sc_sockets;
mod schemathesis;
mod servicecenter_flow;
mod startup_errors;
mod tls;
mod unreachable_member;
mod workers;
