#[path = "../eureka_fixture.rs"]
mod eureka_fixture;
use registry_store::command::Command;
fn main() {
    let s = registry_store::protocol::eureka::mapping::EurekaSettings::default();
    let p = eureka_fixture::registration(&s, 12345);
    let named = rmp_serde::to_vec_named(&p).unwrap().len();
    let compact = rmp_serde::to_vec(&p).unwrap().len();
    println!("proposal named {named} compact {compact}");
    if let Command::RegisterInstance(r) = &p.command {
        let named = rmp_serde::to_vec_named(&r.instance).unwrap().len();
        let compact = rmp_serde::to_vec(&r.instance).unwrap().len();
        println!("instance named {named} compact {compact}");
        let back: registry_store::model::Instance =
            rmp_serde::from_slice(&rmp_serde::to_vec(&r.instance).unwrap()).unwrap();
        assert_eq!(&back, &r.instance);
    }
}
