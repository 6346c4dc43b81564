//! The `fjord` binary.
fn main() {}
