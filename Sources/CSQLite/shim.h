#include <sqlite3.h>

// sqlite3_config is variadic, which Swift cannot call. Turning off SQLite's allocation
// statistics removes a global mutex from every one of its allocations (several per row
// inserted); it must happen before the first connection opens.
static inline int evpnscope_sqlite_without_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
