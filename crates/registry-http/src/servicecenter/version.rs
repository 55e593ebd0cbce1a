//! ServiceCenter version rules for `find`: `latest`, `N+`, ranges, exact versions.
