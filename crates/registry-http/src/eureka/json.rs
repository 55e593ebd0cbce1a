//! Eureka JSON (the Jackson "LegacyJacksonJson" format): exact output, lenient input.
