#include "text_index.h"

#include <doctest/doctest.h>

namespace urbis {

TEST_CASE("CJK runs become overlapping bigrams, other scripts stay as words") {
  CHECK(fts_index_text("스마트시티") == "스마 마트 트시 시티");
  CHECK(fts_index_text("智慧城市") == "智慧 慧城 城市");
  CHECK(fts_index_text("水") == "水");
  CHECK(fts_index_text("Seoul 스마트 city") == "Seoul  스마 마트  city");
  CHECK(fts_index_text("مدينة ذكية") == "مدينة ذكية");
  CHECK(fts_index_text("") == "");
}

TEST_CASE("queries quote every word, AND them, and prefix-match the last") {
  CHECK(fts_match_query("smart bus") == "\"smart\" AND \"bus\"*");
  CHECK(fts_match_query("교통") == "\"교통\"*");
  CHECK(fts_match_query("스마트") == "\"스마 마트\"*");
  CHECK(fts_match_query("  ") == "");
  // Operators and quotes typed by a person stay literal.
  CHECK(fts_match_query("a\"b OR") == "\"a\"\"b\" AND \"OR\"*");
  CHECK(fts_match_query("- * (") == "");
  // Words of punctuation alone (pasted titles hold dashes) are dropped, not
  // turned into empty phrases that match nothing.
  CHECK(fts_match_query("collection — harbour") == "\"collection\" AND \"harbour\"*");
  CHECK(fts_match_query("« a » · … 、 ؟ ！") == "\"a\"*");
  CHECK(fts_match_query("x—y") == "\"x—y\"*");          // inside a word the tokenizer splits it
  CHECK(fts_match_query("½ ²") == "\"½\" AND \"²\"*");  // numbers (No) are tokens
}

TEST_CASE("invalid UTF-8 does not break normalization") {
  std::string bad = "abc\xff\xfe 교통";
  std::string out = fts_index_text(bad);
  CHECK(out.find("교통") != std::string::npos);
}

}  // namespace urbis
