//! Compiles `proto/*.proto` with a vendored `protoc`, so a fresh machine builds with Cargo alone.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let proto_dir = "../../proto";
    println!("cargo:rerun-if-changed={proto_dir}");
    tonic_prost_build::configure().compile_protos(&[format!("{proto_dir}/raft.proto")], &[proto_dir.to_string()])?;
    Ok(())
}
