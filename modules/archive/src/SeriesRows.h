#pragma once
// SeriesRecord <-> row of the `series` table, shared by the indexer (writes) and the catalog (reads).

#include "Sqlite.h"
#include "lesion/archive/SeriesCatalog.h"

namespace lesion::archive::detail {

extern const char* const InsertSeriesSql;
extern const char* const SelectSeriesColumns; ///< column list matching seriesFromRow

void bindSeriesRow(Statement& insert, const SeriesRecord& record);
[[nodiscard]] SeriesRecord seriesFromRow(const Statement& row);

} // namespace lesion::archive::detail
