/*
 * sqlite-driver.c - a small SQLite workload for the end-to-end tests: an
 * in-memory database, 20,000 rows inserted in one transaction, a few
 * queries, everything printed. Linked with the SQLite amalgamation into one
 * object (ld -r) before it is JIT'd.
 */
#include <stdio.h>

#include "sqlite3.h"

#define ROWS 20000

static int check(sqlite3 *Db, int Rc, const char *What) {
  if (Rc != SQLITE_OK && Rc != SQLITE_DONE && Rc != SQLITE_ROW) {
    fprintf(stderr, "%s: %s\n", What, sqlite3_errmsg(Db));
    return 1;
  }
  return 0;
}

static int print_row(void *Ctx, int NCols, char **Values, char **Names) {
  (void)Ctx;
  for (int I = 0; I < NCols; I++)
    printf("%s%s=%s", I ? " " : "", Names[I], Values[I] ? Values[I] : "NULL");
  printf("\n");
  return 0;
}

int main(void) {
  sqlite3 *Db = NULL;
  sqlite3_stmt *Insert = NULL;
  int Status = 1;

  printf("SQLite %s\n", sqlite3_libversion());
  if (check(Db, sqlite3_open(":memory:", &Db), "open"))
    goto out;
  if (check(Db,
            sqlite3_exec(Db,
                         "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                         "value REAL, tag INTEGER)",
                         NULL, NULL, NULL),
            "create") ||
      check(Db, sqlite3_exec(Db, "BEGIN", NULL, NULL, NULL), "begin") ||
      check(Db,
            sqlite3_prepare_v2(Db, "INSERT INTO t (name, value, tag) VALUES (?, ?, ?)", -1, &Insert,
                               NULL),
            "prepare"))
    goto out;
  for (int I = 0; I < ROWS; I++) {
    char Name[32];
    snprintf(Name, sizeof(Name), "row-%05d", I);
    sqlite3_bind_text(Insert, 1, Name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(Insert, 2, I * 0.5);
    sqlite3_bind_int(Insert, 3, I % 7);
    if (check(Db, sqlite3_step(Insert), "insert") || check(Db, sqlite3_reset(Insert), "reset"))
      goto out;
  }
  if (check(Db, sqlite3_exec(Db, "COMMIT", NULL, NULL, NULL), "commit") ||
      check(Db,
            sqlite3_exec(Db, "SELECT count(*), sum(value), sum(tag), max(id) FROM t", print_row,
                         NULL, NULL),
            "aggregate") ||
      check(Db,
            sqlite3_exec(Db, "SELECT tag, count(*) AS n FROM t GROUP BY tag ORDER BY tag",
                         print_row, NULL, NULL),
            "group") ||
      check(Db,
            sqlite3_exec(Db, "SELECT id, name, value FROM t WHERE id % 4999 = 1 ORDER BY id",
                         print_row, NULL, NULL),
            "rows") ||
      check(Db,
            sqlite3_exec(Db,
                         "SELECT name FROM t WHERE name LIKE 'row-1999%' ORDER BY name DESC "
                         "LIMIT 3",
                         print_row, NULL, NULL),
            "like"))
    goto out;
  Status = 0;
out:
  sqlite3_finalize(Insert);
  sqlite3_close(Db);
  return Status;
}
