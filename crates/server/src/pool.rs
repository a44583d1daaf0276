//! The threads commands run on. Storage calls block (disk, sled), and the query language and
//! the bson crate recurse once per nesting level of a document (MongoDB allows 200 levels), so
//! commands run on a pool of their own with large stacks, whatever runtime embeds the server.

use tokio::runtime::{Builder, Handle, Runtime};

/// Stack of each command thread: room for 200-level documents in debug builds too.
const STACK_BYTES: usize = 32 * 1024 * 1024;

pub struct CommandPool {
    runtime: Option<Runtime>,
    handle: Handle,
}

impl CommandPool {
    pub fn new() -> std::io::Result<CommandPool> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("outpost-command")
            .thread_stack_size(STACK_BYTES)
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        Ok(CommandPool {
            runtime: Some(runtime),
            handle,
        })
    }

    /// Runs the task `task` on the pool's own runtime thread, not the caller's runtime: for a
    /// server whose handlers block on the store (the Admin API's), which on the connections'
    /// runtime could hold up every connection of a thread while a long write holds the
    /// writer lock.
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.handle.spawn(task);
    }

    /// Runs `f` on a command thread.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        self.handle.spawn_blocking(f).await
    }
}

impl Drop for CommandPool {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is not allowed inside an async context; the
        // commands still running finish on their own threads.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
