//! `ferry-conformance`: drives any external special remote program (issue 5; not built yet).

fn main() {
    eprintln!("ferry-conformance: not implemented yet (issue 5)");
    std::process::exit(2);
}
