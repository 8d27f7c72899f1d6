// `sqlx::migrate!` embeds the top-level migrations/ at compile time: rebuild when they change.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
