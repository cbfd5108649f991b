#include "SeriesRows.h"

#include <nlohmann/json.hpp>

namespace lesion::archive::detail {

namespace {

std::string columnList(const char* separator, bool placeholders) {
  std::string text;
  int n = 0;
  SeriesRecord r;
  visitSeriesColumns(r, [&](const char* column, const char*, const auto&) {
    if (n++ > 0) text += separator;
    text += placeholders ? "?" + std::to_string(n) : std::string(column);
  });
  return text;
}

struct Binder {
  Statement& s;
  int i{0};
  void operator()(const char*, const char*, const std::string& v) { s.bind(++i, v); }
  void operator()(const char*, const char*, const std::optional<int>& v) {
    ++i;
    if (v) s.bind(i, *v);
    else s.bindNull(i);
  }
  void operator()(const char*, const char*, bool v) { s.bind(++i, v); }
  void operator()(const char*, const char*, int v) { s.bind(++i, v); }
  void operator()(const char*, const char*, std::size_t v) { s.bind(++i, v); }
  void operator()(const char*, const char*, double v) { s.bind(++i, v); }
  void operator()(const char*, const char*, const std::vector<std::string>& v) { s.bind(++i, nlohmann::json(v).dump()); }
};

struct Reader {
  const Statement& s;
  int i{0};
  void operator()(const char*, const char*, std::string& v) { v = s.text(i++); }
  void operator()(const char*, const char*, std::optional<int>& v) {
    if (!s.isNull(i)) v = static_cast<int>(s.integer(i));
    ++i;
  }
  void operator()(const char*, const char*, bool& v) { v = s.integer(i++) != 0; }
  void operator()(const char*, const char*, int& v) { v = static_cast<int>(s.integer(i++)); }
  void operator()(const char*, const char*, std::size_t& v) { v = static_cast<std::size_t>(s.integer(i++)); }
  void operator()(const char*, const char*, double& v) { v = s.real(i++); }
  void operator()(const char*, const char*, std::vector<std::string>& v) {
    const nlohmann::json j = nlohmann::json::parse(s.text(i++), nullptr, false);
    if (j.is_array()) v = j.get<std::vector<std::string>>();
  }
};

} // namespace

const std::string& insertSeriesSql() {
  static const std::string sql =
      "INSERT OR REPLACE INTO series (" + columnList(", ", false) + ") VALUES (" + columnList(", ", true) + ")";
  return sql;
}

const std::string& selectSeriesColumns() {
  static const std::string columns = columnList(", ", false);
  return columns;
}

void bindSeriesRow(Statement& insert, const SeriesRecord& record) { visitSeriesColumns(record, Binder{insert}); }

SeriesRecord seriesFromRow(const Statement& row) {
  SeriesRecord r;
  visitSeriesColumns(r, Reader{row});
  return r;
}

} // namespace lesion::archive::detail
