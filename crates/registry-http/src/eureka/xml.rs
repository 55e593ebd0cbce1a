//! Eureka XML (the XStream format py-eureka-client parses): exact output, lenient input.
