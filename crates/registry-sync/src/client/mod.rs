//! Talking to federation remotes over HTTP: [`http`] (base URL, credentials, timeouts), and the
//! calls the import and export sides share for [`eureka`], [`servicecenter`] and [`nacos`]
//! remotes.

pub mod eureka;
pub mod http;
pub mod nacos;
pub mod servicecenter;
