//! `apps__hashcode`: instance counts per status, as Eureka clients recompute it.
