//! Compiles `proto/nacos_grpc.proto` (Nacos 2.x's gRPC interface) with a vendored `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let proto = "../../proto/nacos_grpc.proto";
    println!("cargo:rerun-if-changed={proto}");
    tonic_prost_build::configure()
        .build_client(true)
        .compile_protos(&[proto], &["../../proto"])?;
    Ok(())
}
