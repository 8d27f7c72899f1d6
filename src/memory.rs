//! How the process allocates.

/// How many malloc arenas glibc may use, unless the operator says otherwise (`MALLOC_ARENA_MAX`).
const MALLOC_ARENAS: i32 = 4;

/// Bounds glibc's malloc arenas. By default glibc gives threads that contend for malloc arenas of
/// their own, up to eight per core, and what is freed in one arena is not reused from another:
/// with allocations moving between threads (actix's workers, tokio's, sqlx's SQLite connection
/// threads), the server's peak RSS at 1,000,000 users reached 68-73 MB (`scripts/bench --users
/// 1000000`, 2-core AMD EPYC), over the 64 MB budget. Four arenas: 59.8 MB, at a cost measured
/// run for run (GetUser with uniform access 83% of the rate, other scenarios 91-101%); two: 52.8
/// MB, but CreateUser at 76%. Call it before the runtime starts its threads.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a parameter of glibc's allocator, which it reads under its
        // own lock; no memory is touched.
        let _ = unsafe { libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS) };
    }
}
