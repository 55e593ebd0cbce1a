//! The Eureka decoders on the bodies of issue 19, attack 2 ("Quadratic XML"), and on the largest
//! bodies they accept. Before the caps, an `<instance>` with 100,000 attributes took about 10 s
//! (quick-xml's duplicate-attribute check compares each attribute with all those before it);
//! each refusal here should cost about one pass over the bytes up to the cap.
//!
//! `cargo bench -p registry-bench --bench decode_caps`

use std::hint::black_box;

use criterion::criterion_group;
use criterion::criterion_main;
use criterion::Criterion;
use registry_store::protocol::eureka::json;
use registry_store::protocol::eureka::xml;

const N: usize = 100_000;

fn xml_bodies(c: &mut Criterion) {
    let attributes: String = (0..N).map(|i| format!(" a{i}=\"x\"")).collect();
    let entries = |n: usize| (0..n).map(|i| format!("<k{i}>v</k{i}>")).collect::<String>();
    let cases = [
        (
            "xml: 100k attributes (refused)",
            format!("<instance{attributes}/>"),
            false,
        ),
        (
            "xml: nested 100k deep (refused)",
            format!("<instance>{}{}</instance>", "<a>".repeat(N), "</a>".repeat(N)),
            false,
        ),
        (
            "xml: 100k metadata entries (refused)",
            format!("<instance><metadata>{}</metadata></instance>", entries(N)),
            false,
        ),
        (
            "xml: 100k sibling elements (refused)",
            format!("<instance>{}</instance>", "<metadata/>".repeat(N)),
            false,
        ),
        (
            "xml: 1,000 metadata entries (accepted, at the cap)",
            format!(
                "<instance><hostName>h</hostName><metadata>{}</metadata></instance>",
                entries(1_000)
            ),
            true,
        ),
        (
            "xml: 10,000 elements (accepted, at the cap)",
            format!("<instance>{}</instance>", "<x>1</x>".repeat(9_999)),
            true,
        ),
    ];
    for (name, body, accepted) in cases {
        assert_eq!(xml::decode_instance(body.as_bytes()).is_ok(), accepted, "{name}");
        c.bench_function(name, |b| {
            b.iter(|| black_box(xml::decode_instance(black_box(body.as_bytes()))))
        });
    }
}

fn json_bodies(c: &mut Criterion) {
    let metadata = |n: usize| {
        let entries: Vec<String> = (0..n).map(|i| format!("\"k{i}\":\"v\"")).collect();
        format!(
            "{{\"instance\":{{\"hostName\":\"h\",\"metadata\":{{{}}}}}}}",
            entries.join(",")
        )
    };
    let cases = [
        (
            "json: nested 100k deep (refused)",
            format!("{{\"instance\":{{\"x\":{}{}}}}}", "[".repeat(N), "]".repeat(N)),
            false,
        ),
        ("json: 100k metadata entries (refused)", metadata(N), false),
        (
            "json: 1,000 metadata entries (accepted, at the cap)",
            metadata(1_000),
            true,
        ),
    ];
    for (name, body, accepted) in cases {
        assert_eq!(json::decode_instance(body.as_bytes()).is_ok(), accepted, "{name}");
        c.bench_function(name, |b| {
            b.iter(|| black_box(json::decode_instance(black_box(body.as_bytes()))))
        });
    }
}

criterion_group!(benches, xml_bodies, json_bodies);
criterion_main!(benches);
