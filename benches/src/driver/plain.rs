//! Plain HTTP GET of one path: the hello-world baseline.

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;

use super::bodiless;

pub struct Plain {
    path: String,
}

impl Plain {
    pub fn new(path: &str) -> Plain {
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        Plain { path }
    }

    pub fn request(&self) -> Request<Full<Bytes>> {
        bodiless("GET", &self.path, "*/*")
    }
}
