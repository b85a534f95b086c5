//! Prometheus metrics: requests by method, route and status, and latency histograms by route.
//!
//! Every label comes from a bounded set, so that no request can grow the metrics: routes are the matched
//! patterns (`/v1.0/users/{id}`, or `unmatched`), never raw paths; methods are HTTP's standard ones, or `other`
//! for any extension token a client makes up.

use axum::http::Method;
use gatehouse_core::Directory;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The method's label in metrics and logs: one of HTTP's standard methods, or `other`.
pub fn method_label(method: &Method) -> &'static str {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    STANDARD.iter().find(|m| *m == method).map(Method::as_str).unwrap_or("other")
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<HashMap<(&'static str, String, u16), u64>>,
    latency: Mutex<HashMap<String, Histogram>>,
    /// The directory whose processors this node may run, for the leases it holds.
    directory: Option<Arc<Directory>>,
}

impl Metrics {
    /// Metrics that also show which processors this node runs.
    pub fn of(directory: Arc<Directory>) -> Metrics {
        Metrics { directory: Some(directory), ..Metrics::default() }
    }

    pub fn record(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        {
            let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            *requests.entry((method_label(method), route.to_owned(), status)).or_default() += 1;
        }
        let seconds = elapsed.as_secs_f64();
        let mut latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let histogram = latency.entry(route.to_owned()).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                histogram.counts[i] += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP gatehouse_http_requests_total HTTP requests by method, route and status.\n");
        out.push_str("# TYPE gatehouse_http_requests_total counter\n");
        let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let mut rows: Vec<_> = requests.iter().collect();
        rows.sort();
        for ((method, route, status), count) in rows {
            let _ = writeln!(
                out,
                "gatehouse_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        drop(requests);
        out.push_str("# HELP gatehouse_http_request_duration_seconds HTTP request latency by route.\n");
        out.push_str("# TYPE gatehouse_http_request_duration_seconds histogram\n");
        let latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let mut routes: Vec<_> = latency.iter().collect();
        routes.sort_by(|a, b| a.0.cmp(b.0));
        for (route, histogram) in routes {
            for (bound, count) in BUCKETS.iter().zip(histogram.counts) {
                let _ = writeln!(
                    out,
                    "gatehouse_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "gatehouse_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(out, "gatehouse_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", histogram.sum);
            let _ =
                writeln!(out, "gatehouse_http_request_duration_seconds_count{{route=\"{route}\"}} {}", histogram.count);
        }
        if let Some(directory) = &self.directory {
            out.push_str("# HELP gatehouse_processor_lease Change processors this node runs, by tenant.\n");
            out.push_str("# TYPE gatehouse_processor_lease gauge\n");
            for (tenant, processor) in directory.leases_held() {
                let _ = writeln!(out, "gatehouse_processor_lease{{tenant=\"{tenant}\",processor=\"{processor}\"}} 1");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() -> Result<(), axum::http::method::InvalidMethod> {
        let metrics = Metrics::default();
        for i in 0..100 {
            let invented = Method::from_bytes(format!("X{}{i}", "M".repeat(8000)).as_bytes())?;
            metrics.record(&invented, "unmatched", 404, Duration::from_millis(1));
        }
        metrics.record(&Method::GET, "/healthz", 200, Duration::from_millis(1));
        let text = metrics.render();
        assert!(text.contains("method=\"other\",route=\"unmatched\",status=\"404\"} 100"), "{text}");
        assert!(text.contains("method=\"GET\",route=\"/healthz\""), "{text}");
        assert!(text.len() < 4096, "the exposition stays small: {} bytes", text.len());
        Ok(())
    }
}
