//! The `taskhub` command line: see `cli` for the commands.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
