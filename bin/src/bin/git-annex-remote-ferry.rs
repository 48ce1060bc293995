//! The program git-annex runs for `externaltype=ferry`: speaks the external special remote
//! protocol on stdin/stdout, logs to stderr or `FERRY_LOG_FILE`.

use std::sync::Arc;

use ferry::remote::FerryRemote;

fn main() {
    ferry::logging::init("warn");
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(16)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("git-annex-remote-ferry: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = runtime.block_on(remote_proto::driver::run_stdio(
        Arc::new(FerryRemote::new()),
    )) {
        // stdout is the protocol; a broken pipe means git-annex went away.
        tracing::debug!("protocol stream ended: {e}");
    }
    // Do not wait for blocking copies of a cancelled transfer: git-annex waits for us to exit.
    runtime.shutdown_background();
}
