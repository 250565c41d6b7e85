//! The `gilknock-analyze` command: everything happens in the library's `run`.

fn main() {
    std::process::exit(gilknocker_analyzer::run(std::env::args_os().collect()));
}
