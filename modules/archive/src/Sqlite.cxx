#include "Sqlite.h"

#include "lesion/core/Error.h"

namespace lesion::archive::detail {

namespace {

/// What the user can do about an SQLite failure that is not LesionKit's: an index that cannot be
/// written (permissions, a full disk) or is held by another process. Empty for the others.
std::string problemWithTheIndexFile(int code) {
  switch (code & 0xff) { // the primary result code
  case SQLITE_READONLY:
  case SQLITE_PERM:
  case SQLITE_CANTOPEN:
    return "cannot be written (a read-only file or folder?): check its permissions or use a copy you may write";
  case SQLITE_FULL:
    return "cannot be written: the disk is full; free space (or move the index) and run again";
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return "is locked by another process (another lesionkit index or batch?) for longer than the 30 s this one "
           "waits; run again when it has finished";
  default:
    return {};
  }
}

} // namespace

void throwSqliteError(sqlite3* db, std::string_view what) {
  const char* name = sqlite3_db_filename(db, "main");
  const std::string file = "archive index '" + std::string(name ? name : "") + "'";
  const std::string sqliteMessage = sqlite3_errmsg(db);
  if (const std::string problem = problemWithTheIndexFile(sqlite3_extended_errcode(db)); !problem.empty())
    throw InputError(file + " " + problem + " (" + std::string(what) + ": " + sqliteMessage + ")");
  throw ProcessingError(file + ": " + std::string(what) + ": " + sqliteMessage);
}

void execute(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string text = message ? message : "unknown error";
    sqlite3_free(message);
    throwSqliteError(db, "statement failed (" + text + ")");
  }
}

Statement::Statement(sqlite3* db, const char* sql) : m_Db(db) {
  if (sqlite3_prepare_v2(db, sql, -1, &m_Stmt, nullptr) != SQLITE_OK) throwSqliteError(db, "cannot prepare a statement");
}

Statement::~Statement() { sqlite3_finalize(m_Stmt); }

Statement& Statement::bind(int index, std::string_view text) {
  if (sqlite3_bind_text(m_Stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT) != SQLITE_OK) {
    throwSqliteError(m_Db, "cannot bind a value");
  }
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  if (sqlite3_bind_int64(m_Stmt, index, value) != SQLITE_OK) throwSqliteError(m_Db, "cannot bind a value");
  return *this;
}

Statement& Statement::bind(int index, double value) {
  if (sqlite3_bind_double(m_Stmt, index, value) != SQLITE_OK) throwSqliteError(m_Db, "cannot bind a value");
  return *this;
}

Statement& Statement::bind(int index, const std::optional<double>& value) {
  return value ? bind(index, *value) : bindNull(index);
}

Statement& Statement::bindNull(int index) {
  if (sqlite3_bind_null(m_Stmt, index) != SQLITE_OK) throwSqliteError(m_Db, "cannot bind a value");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(m_Stmt);
  if (rc == SQLITE_ROW) return true;
  sqlite3_reset(m_Stmt);
  if (rc != SQLITE_DONE) throwSqliteError(m_Db, "query failed");
  sqlite3_clear_bindings(m_Stmt);
  return false;
}

void Statement::run() {
  while (step()) {
  }
}

std::string Statement::text(int column) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(m_Stmt, column));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(m_Stmt, column))) : std::string();
}

std::int64_t Statement::integer(int column) const { return sqlite3_column_int64(m_Stmt, column); }
double Statement::real(int column) const { return sqlite3_column_double(m_Stmt, column); }
bool Statement::isNull(int column) const { return sqlite3_column_type(m_Stmt, column) == SQLITE_NULL; }
std::optional<double> Statement::optionalReal(int column) const {
  return isNull(column) ? std::nullopt : std::optional<double>(real(column));
}

Transaction::Transaction(sqlite3* db) : m_Db(db) { execute(db, "BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (m_Open) sqlite3_exec(m_Db, "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  execute(m_Db, "COMMIT");
  m_Open = false;
}

} // namespace lesion::archive::detail
