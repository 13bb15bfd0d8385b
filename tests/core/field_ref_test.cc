// Field references (urbis/field_ref.h): what the CLI's put arguments and CSV
// headers and the browser client's compact put keys accept.
#include <doctest/doctest.h>

#include "urbis/field_ref.h"

using urbis::FieldRef;
using urbis::parse_field_ref;

TEST_CASE("field_ref: the four forms read back as written") {
  for (const char* text : {"budget", "title@ko", "title@zh-Hans", "+tags", "-tags", "sdgs"}) {
    auto ref = parse_field_ref(text);
    REQUIRE_MESSAGE(ref, text);
    CHECK(to_string(*ref) == text);
  }
  auto text = parse_field_ref("summary@es");
  CHECK(text->kind == FieldRef::Kind::Text);
  CHECK(text->field == "summary");
  CHECK(text->locale == "es");
  CHECK(parse_field_ref("+partners")->kind == FieldRef::Kind::Add);
  CHECK(parse_field_ref("-partners")->kind == FieldRef::Kind::Remove);
  CHECK(parse_field_ref("status")->kind == FieldRef::Kind::Set);
}

TEST_CASE("field_ref: malformed references are refused") {
  for (const char* text : {"", "@ko", "title@", "title@k o", "title@ko@en", "+", "-", "a b", "a=b", "a,b", "say\"hi\"",
                           "tab\there", "title@ko!", "title@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})
    CHECK_MESSAGE(!parse_field_ref(text), text);
  CHECK(urbis::valid_locale("zh-Hans_CN"));
  CHECK(!urbis::valid_locale("한국어"));
  CHECK(urbis::valid_field_name("제목"));  // names may be any non-space UTF-8
}
