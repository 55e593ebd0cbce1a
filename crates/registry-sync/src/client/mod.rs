//! Talking to peers over HTTP: [`http`] (base URL, credentials, timeouts), and the calls the
//! import and export sides share for [`eureka`] and [`servicecenter`] peers.

pub mod eureka;
pub mod http;
pub mod servicecenter;
