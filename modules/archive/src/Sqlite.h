#pragma once
// Small RAII helpers over the SQLite C API for the archive module's own statements: failures
// become lesion::ProcessingError naming the database file.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <sqlite3.h>

namespace lesion::archive::detail {

[[noreturn]] void throwSqliteError(sqlite3* db, std::string_view what);

/// Runs one or more statements without results.
void execute(sqlite3* db, const char* sql);

class Statement {
public:
  Statement(sqlite3* db, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, int value) { return bind(index, std::int64_t{value}); }
  Statement& bind(int index, std::size_t value) { return bind(index, static_cast<std::int64_t>(value)); }
  Statement& bind(int index, double value);
  Statement& bind(int index, bool value) { return bind(index, std::int64_t{value ? 1 : 0}); }
  Statement& bind(int index, const std::optional<double>& value);
  Statement& bindNull(int index);

  /// Advances to the next row; false when done (the statement is then reset for reuse).
  bool step();
  /// Runs a statement without results and resets it for the next bindings.
  void run();

  [[nodiscard]] std::string text(int column) const;
  [[nodiscard]] std::int64_t integer(int column) const;
  [[nodiscard]] double real(int column) const;
  [[nodiscard]] std::optional<double> optionalReal(int column) const;
  [[nodiscard]] bool isNull(int column) const;

private:
  sqlite3* m_Db;
  sqlite3_stmt* m_Stmt{nullptr};
};

/// BEGIN IMMEDIATE ... COMMIT; rolled back when destroyed without commit().
class Transaction {
public:
  explicit Transaction(sqlite3* db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

private:
  sqlite3* m_Db;
  bool m_Open{true};
};

} // namespace lesion::archive::detail
