//! The `taskhub` command line, hosting the samples: see `taskhub::cli` for the commands, and for
//! hosting your own orchestrations behind the same commands.

fn main() -> std::process::ExitCode {
    taskhub::cli::main()
}
