// Text normalization for the full-text index (SQLite FTS5, unicode61
// tokenizer). unicode61 splits on spaces and punctuation, which suits
// alphabetic scripts (Latin, Cyrillic, Arabic, Turkish...) but leaves a run of
// Chinese or Korean as one token. Both the indexed text and the query are
// therefore rewritten: every run of CJK ideographs, kana or Hangul becomes
// its overlapping character bigrams ("스마트시티" -> "스마 마트 트시 시티"), so a
// two-character Korean word or a Chinese term inside a longer run matches.
#pragma once

#include <string>
#include <string_view>

namespace urbis {

// Text as stored in the FTS index.
std::string fts_index_text(std::string_view text);
// An FTS5 MATCH expression for what a person typed: every word must match,
// the last one as a prefix (search as you type). Empty when nothing
// searchable remains.
std::string fts_match_query(std::string_view typed);

}  // namespace urbis
